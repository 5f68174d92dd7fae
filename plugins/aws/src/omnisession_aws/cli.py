"""``omnisession-aws``: create the table or bucket a store URL names; sweep a table.

    omnisession-aws create-table "dynamodb://sessions?region=eu-west-1"
    omnisession-aws create-bucket "s3://my-bucket/agents?region=eu-west-1"
    omnisession-aws sweep "dynamodb://sessions?region=eu-west-1" [--grace SECONDS]

Credentials come from the usual AWS chain; ``endpoint_url``, ``region`` and
``profile`` in the URL are honoured (e.g. a local moto or DynamoDB Local), and
the URL's options are checked like the store's own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from omnisession.errors import OmnisessionError

from .options import DYNAMODB_OPTIONS, S3_OPTIONS, parse_aws_url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="omnisession-aws", description="Create AWS resources for omnisession stores."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    table = commands.add_parser("create-table", help="create the table of a dynamodb:// URL")
    table.add_argument("url", help="dynamodb://TABLE?region=...&endpoint_url=...")
    bucket = commands.add_parser("create-bucket", help="create the bucket of an s3:// URL")
    bucket.add_argument("url", help="s3://BUCKET/PREFIX?region=...&endpoint_url=...")
    sweep = commands.add_parser(
        "sweep", help="delete the event items of expired sessions (and other unreachable ones)"
    )
    sweep.add_argument("url", help="dynamodb://TABLE?region=...&endpoint_url=...")
    sweep.add_argument(
        "--grace",
        type=float,
        default=3600.0,
        help="keep items written by a write less than this many seconds ago (default 3600)",
    )
    args = parser.parse_args(argv)
    scheme = "s3" if args.command == "create-bucket" else "dynamodb"
    if urlsplit(args.url).scheme != scheme:
        parser.error(f"{args.command} takes a {scheme}:// URL, got {args.url!r}")
    declared = DYNAMODB_OPTIONS if scheme == "dynamodb" else S3_OPTIONS
    try:
        location, options = parse_aws_url(declared, args.url, {}, backend=scheme)
    except OmnisessionError as exc:
        parser.error(str(exc))
    path = location.split("://", 1)[1]
    if args.command == "sweep":
        return _sweep(args.url, args.grace)
    try:
        if scheme == "dynamodb":
            from .dynamodb import create_table

            name = path.strip("/")
            created = create_table(
                name,
                region=options.region,
                endpoint_url=options.endpoint_url,
                profile=options.profile,
            )
            what = f"table {name}"
        else:
            from .s3 import create_bucket

            name = path.split("/", 1)[0]
            created = create_bucket(
                name,
                region=options.region,
                endpoint_url=options.endpoint_url,
                profile=options.profile,
            )
            what = f"bucket {name}"
    except Exception as exc:  # report, do not dump a traceback on the user
        print(f"omnisession-aws: cannot create {what_of(scheme)}: {exc}", file=sys.stderr)
        return 1
    print(f"{what}: {'created' if created else 'already exists'}")
    return 0


def _sweep(url: str, grace: float) -> int:
    import asyncio

    from .dynamodb import open_dynamodb_store

    async def run() -> str:
        async with open_dynamodb_store(url) as store:
            swept = await store.sweep(grace=grace)
        return (
            f"swept {swept.partitions} event partitions and {swept.chunks} large entries "
            f"({swept.items} items)"
        )

    try:
        print(asyncio.run(run()))
    except Exception as exc:  # report, do not dump a traceback on the user
        print(f"omnisession-aws: cannot sweep: {exc}", file=sys.stderr)
        return 1
    return 0


def what_of(scheme: str) -> str:
    return "the table" if scheme == "dynamodb" else "the bucket"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
