"""``omnisession-aws``: create the DynamoDB table or S3 bucket a store URL names.

    omnisession-aws create-table "dynamodb://sessions?region=eu-west-1"
    omnisession-aws create-bucket "s3://my-bucket/agents?region=eu-west-1"

Credentials come from the usual AWS chain; ``endpoint_url`` and ``region`` in
the URL are honoured (e.g. a local moto or DynamoDB Local).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from ._common import parse_options


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="omnisession-aws", description="Create AWS resources for omnisession stores."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    table = commands.add_parser("create-table", help="create the table of a dynamodb:// URL")
    table.add_argument("url", help="dynamodb://TABLE?region=...&endpoint_url=...")
    bucket = commands.add_parser("create-bucket", help="create the bucket of an s3:// URL")
    bucket.add_argument("url", help="s3://BUCKET/PREFIX?region=...&endpoint_url=...")
    args = parser.parse_args(argv)
    parts = urlsplit(args.url)
    expected = "dynamodb" if args.command == "create-table" else "s3"
    if parts.scheme != expected:
        parser.error(f"{args.command} takes a {expected}:// URL, got {args.url!r}")
    options = parse_options(parts.query, {})
    try:
        if args.command == "create-table":
            from .dynamodb import create_table

            name = (parts.netloc + parts.path).strip("/")
            created = create_table(
                name,
                region=options.region,
                endpoint_url=options.endpoint_url,
                profile=options.profile,
            )
            what = f"table {name}"
        else:
            from .s3 import create_bucket

            name = parts.netloc
            created = create_bucket(
                name,
                region=options.region,
                endpoint_url=options.endpoint_url,
                profile=options.profile,
            )
            what = f"bucket {name}"
    except Exception as exc:  # report, do not dump a traceback on the user
        print(f"omnisession-aws: cannot create {expected} resource: {exc}", file=sys.stderr)
        return 1
    print(f"{what}: {'created' if created else 'already exists'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
