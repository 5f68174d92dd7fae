"""Creating the table a ``dynamodb://TABLE`` store needs: keys, listing GSIs and TTL."""

from __future__ import annotations

from typing import Any

from ._client import one_off_client
from ._errors import error_code

__all__ = ["create_table", "create_table_with"]


def create_table_with(client: Any, table: str, *, exist_ok: bool) -> bool:
    """Create ``table`` with the keys, GSIs and TTL this store needs; wait until active."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped]

    created = True
    try:
        client.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"}
                for name in ("pk", "sk", "lapp", "luser", "lupd")
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": index,
                    "KeySchema": [
                        {"AttributeName": hash_key, "KeyType": "HASH"},
                        {"AttributeName": "lupd", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index, hash_key in (("by_app", "lapp"), ("by_user", "luser"))
            ],
        )
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException" or not exist_ok:
            raise
        created = False
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
        )
    return created


def create_table(
    table: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    exist_ok: bool = True,
    client: Any = None,
) -> bool:
    """Create the DynamoDB table a ``dynamodb://TABLE`` store needs (on-demand billing).

    Keys ``pk``/``sk`` (strings), GSIs ``by_app`` and ``by_user`` for listing,
    TTL on attribute ``exp``. Waits until the table is active. Returns ``True``
    if it was created, ``False`` if it already existed (``exist_ok``).
    Credentials come from the usual AWS chain; pass ``client`` (a boto3
    DynamoDB client) to use one you already have instead.
    """
    with one_off_client(
        "dynamodb", client, region=region, endpoint_url=endpoint_url, profile=profile
    ) as dynamodb:
        return create_table_with(dynamodb, table, exist_ok=exist_ok)
