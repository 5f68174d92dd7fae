"""What each operation costs in requests, how the layout holds events (groups, chunks,
segments), truncation inside a group or a segment, reclaimed storage, the sweep, and
data written by omnisession-aws 0.1 (format 1)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from omnisession import SessionKey, open_store
from omnisession_aws.testing import client, isolated_dynamodb_url, isolated_s3_url, leftovers

from .support import KEY, Requests, run


def _table(url: str) -> str:
    return url.split("://", 1)[1].split("?", 1)[0]


# -- request counts ---------------------------------------------------------------------

DYNAMODB_COSTS = {
    "create_session": {"TransactWriteItems": 1, "BatchGetItem": 1},
    "append_event": {"TransactWriteItems": 1},
    "append_event with user: state": {"TransactWriteItems": 1},
    "update_state": {"UpdateItem": 1},
    "add_items": {"TransactWriteItems": 1},
    "get_items(limit=3)": {"GetItem": 1, "Query": 1},
    "get_session(last=3)": {"GetItem": 1, "BatchGetItem": 1, "Query": 1},
    "get_events": {"GetItem": 1, "Query": 1},
    "pop_item": {"Query": 1, "TransactWriteItems": 1},
    "replace_events(mid-history)": {"Query": 2, "TransactWriteItems": 1},
    "clear_session": {"UpdateItem": 1},
    "update_user_state": {"UpdateItem": 1},
}
S3_COSTS = {
    "create_session": {"PutObject": 4, "GetObject": 3},
    "append_event": {"PutObject": 2},
    "append_event with user: state": {"PutObject": 3, "GetObject": 2},
    "update_state": {"PutObject": 2},
    "add_items": {"PutObject": 2},
    "get_items(limit=3)": {"GetObject": 1},
    "get_session(last=3)": {"GetObject": 3},
    "get_events": {"GetObject": 1},
    "pop_item": {"PutObject": 2},
    "replace_events(mid-history)": {"PutObject": 2},
    "clear_session": {"PutObject": 2},
    "update_user_state": {"GetObject": 1, "PutObject": 1},
}


@pytest.mark.parametrize("scheme", ["dynamodb", "s3"])
def test_each_operation_costs_what_the_readme_says(scheme: str) -> None:
    """An uncontended append is ONE request on DynamoDB (two PUTs on S3); reads and the
    other writes cost a small constant, whatever the length of the history. Clean-ups of
    storage a write made unreachable run after the call has answered and are not counted."""
    expected = DYNAMODB_COSTS if scheme == "dynamodb" else S3_COSTS
    isolated = isolated_dynamodb_url if scheme == "dynamodb" else isolated_s3_url

    async def scenario() -> dict[str, dict[str, int]]:
        measured: dict[str, dict[str, int]] = {}
        async with isolated() as url, open_store(url) as store:
            requests = Requests(store)

            async def measure(name: str, call: Any) -> Any:
                requests.clear()
                result = await call
                measured[name] = dict(requests.calls)
                return result

            await measure(
                "create_session", store.create_session(KEY, {"s": 1, "app:a": 1, "user:u": 1})
            )
            for index in range(40):  # a history longer than any page read below
                await store.append_event(KEY, {"i": index})
            await measure("append_event", store.append_event(KEY, {"i": 40}))
            await measure(
                "append_event with user: state",
                store.append_event(KEY, {"i": 41}, state_delta={"user:u": 2}),
            )
            await measure("update_state", store.update_state(KEY, {"s": 2}))
            await measure("add_items", store.add_items(KEY, [{"j": j} for j in range(5)]))
            await measure("get_items(limit=3)", store.get_items(KEY, limit=3))
            await measure("get_session(last=3)", store.get_session(KEY, last=3))
            await measure("get_events", store.get_events(KEY, page_size=3))
            await measure("pop_item", store.pop_item(KEY))
            record = await store.get_session(KEY, last=1)
            assert record is not None
            newest = record.events[-1].seq
            await measure(
                "replace_events(mid-history)",
                store.replace_events(
                    KEY, newest - 2, [{"r": 1}], expected_revision=record.revision
                ),
            )
            await measure("clear_session", store.clear_session(KEY))
            await measure("update_user_state", store.update_user_state("app", "user", {"q": 1}))
        return measured

    measured = run(scenario())
    wanted = {name: {op: n for op, n in calls.items() if n} for name, calls in expected.items()}
    assert measured == wanted


def test_a_page_of_history_reads_only_what_it_returns() -> None:
    """get_events' cost follows the page size, not the history (DynamoDB Query items read)."""

    async def scenario() -> None:
        async with isolated_dynamodb_url() as url, open_store(url) as store:
            await store.create_session(KEY)
            for index in range(60):
                await store.append_event(KEY, {"i": index})
            read: list[int] = []
            store.client.meta.events.register(  # type: ignore[attr-defined]
                "after-call.dynamodb.Query",
                lambda parsed, **_: read.append(parsed.get("Count", 0)),
            )
            page = await store.get_events(KEY, page_size=5)
            assert [event.data["i"] for event in page.events] == [55, 56, 57, 58, 59]
            assert sum(read) <= 6, read
            read.clear()
            older = await store.get_events(KEY, page_size=5, cursor=page.next_cursor)
            assert [event.data["i"] for event in older.events] == [50, 51, 52, 53, 54]
            assert sum(read) <= 6, read

    run(scenario())


# -- truncation inside a group / a segment ----------------------------------------------------


@pytest.mark.parametrize("scheme", ["dynamodb", "s3"])
def test_replacing_from_inside_one_write_keeps_its_first_events(scheme: str) -> None:
    isolated = isolated_dynamodb_url if scheme == "dynamodb" else isolated_s3_url

    async def scenario() -> None:
        async with isolated() as url, open_store(url) as store:
            await store.add_items(KEY, [{"j": j} for j in range(50)])  # one group / segment
            record = await store.get_session(KEY, last=0)
            assert record is not None
            await store.replace_events(KEY, 5, [{"r": 1}], expected_revision=record.revision)
            items = await store.get_items(KEY)
            assert items == [{"j": j} for j in range(4)] + [{"r": 1}]
            events = (await store.get_events(KEY, oldest_first=True)).events
            assert [event.seq for event in events] == [1, 2, 3, 4, 51]
            await store.erase_app(KEY.app_name)
            await store.aclose()  # clean-ups done
            assert leftovers(url) == []

    run(scenario())


def test_a_truncation_larger_than_a_transaction_switches_to_a_copied_partition() -> None:
    """Deleting more groups than one transaction holds: the kept groups are copied to a
    new partition first, then one transaction switches to it; nothing is lost or left."""

    async def scenario() -> None:
        async with isolated_dynamodb_url() as url:
            async with open_store(url) as store:
                await store.create_session(KEY)
                for index in range(130):  # one group per append
                    await store.append_event(KEY, {"i": index}, state_delta={"k": index})
                record = await store.get_session(KEY, last=0)
                assert record is not None
                await store.replace_events(KEY, 11, [{"r": 1}], expected_revision=record.revision)
                items = await store.get_items(KEY)
                assert items == [{"i": index} for index in range(10)] + [{"r": 1}]
                events = (await store.get_events(KEY, oldest_first=True)).events
                assert events[9].state_delta == {"k": 9}
                await store.append_event(KEY, {"after": True})
                assert (await store.get_items(KEY, limit=2)) == [{"r": 1}, {"after": True}]
            groups = [item for item in leftovers(url) if item.startswith("e|")]
            assert len(groups) == 12, groups  # 10 copied + the replacement + the append

    run(scenario())


# -- chunks, reclaimed storage, segments ------------------------------------------------------


def test_dynamodb_large_entries_and_deletes_leave_no_items_behind() -> None:
    big = {"text": "ü" * 450_000}  # 900 KB of UTF-8: three chunk items

    async def scenario() -> None:
        async with isolated_dynamodb_url() as url:
            kinds = lambda: sorted({item[:2] for item in leftovers(url)})  # noqa: E731
            async with open_store(url) as store:
                await store.create_session(KEY, {"app:a": 1})
                await store.append_event(KEY, big, state_delta={"big": "é" * 100_000})
                await store.add_items(KEY, [{"i": i} for i in range(5)] + [big])
                assert await store.pop_item(KEY) == big
                assert await store.get_items(KEY) == [big] + [{"i": i} for i in range(5)]
                record = await store.get_session(KEY)
                assert record is not None and record.events[0].state_delta == {"big": "é" * 100_000}
                await store.clear_session(KEY)
            assert kinds() == ["a|", "s|"], "clear reclaims events and chunks"
            async with open_store(url) as store:
                await store.append_event(KEY, big)
                await store.delete_session(KEY)
            assert kinds() == ["a|"], "delete reclaims everything but the app scope"

    run(scenario())


def test_s3_history_objects_are_never_rewritten() -> None:
    """Appends add segment objects and never modify one; the head stays small."""

    async def scenario() -> None:
        async with isolated_s3_url() as url, open_store(url) as store:
            s3 = client("s3")
            bucket, prefix = url.split("://", 1)[1].split("?", 1)[0].split("/", 1)

            def segments() -> dict[str, str]:
                listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/s/").get(
                    "Contents", []
                )
                return {obj["Key"]: obj["ETag"] for obj in listed if "/seg/" in obj["Key"]}

            await store.add_items(KEY, [{"i": i} for i in range(40)])
            first = segments()
            assert len(first) == 1
            for i in range(40, 120):
                await store.append_event(KEY, {"i": i})
            later = segments()
            assert len(later) > 1
            assert {key: later[key] for key in first} == first, "a segment object was rewritten"
            head = s3.get_object(Bucket=bucket, Key=f"{prefix}/s/app/user/session/head")
            assert head["ContentLength"] < 8_000
            assert [item["i"] for item in await store.get_items(KEY)] == list(range(120))
            assert await store.get_items(KEY, limit=3) == [{"i": 117}, {"i": 118}, {"i": 119}]

    run(scenario())


# -- the sweep -----------------------------------------------------------------------------


def test_the_sweep_reclaims_what_ttl_and_crashes_leave_and_nothing_else() -> None:
    big = {"text": "x" * 200_000}  # a chunked entry
    gone, kept = SessionKey("app", "user", "expired"), SessionKey("app", "user", "alive")

    async def scenario() -> None:
        async with isolated_dynamodb_url(options="ttl=3600") as url:
            table = _table(url)
            async with open_store(url) as store:
                for key in (gone, kept):
                    await store.create_session(key)
                    await store.append_event(key, big)
                    await store.append_event(key, {"small": 1})
                # DynamoDB's TTL sweep deletes the expired meta item, and nothing else.
                client("dynamodb").delete_item(
                    TableName=table,
                    Key={"pk": {"S": "s|app|user|expired"}, "sk": {"S": "meta"}},
                )
                before = leftovers(url)
                swept = await store.sweep(grace=0)  # type: ignore[attr-defined]
                after = leftovers(url)
                assert (swept.partitions, swept.chunks) == (1, 1)
                assert len(before) - len(after) == swept.items == 2 + 1
                assert await store.get_items(kept) == [big, {"small": 1}]
                again = await store.sweep(grace=0)  # type: ignore[attr-defined]
                assert (again.partitions, again.chunks, again.items) == (0, 0, 0)

    run(scenario())


def test_the_sweep_leaves_recently_staged_chunks_alone() -> None:
    async def scenario() -> None:
        async with isolated_dynamodb_url() as url, open_store(url) as store:
            client("dynamodb").put_item(
                TableName=_table(url),
                Item={
                    "pk": {"S": "b|in-flight"},
                    "sk": {"S": "000000"},
                    "v": {"B": b"x"},
                    "w": {"N": str(int(time.time()))},
                },
            )
            swept = await store.sweep(grace=3600)  # type: ignore[attr-defined]
            assert swept.items == 0
            assert leftovers(url) == ["b|in-flight 000000"]
            swept = await store.sweep(grace=-60)  # type: ignore[attr-defined]
            assert swept.chunks == 1 and leftovers(url) == []

    run(scenario())


# -- format 1 (omnisession-aws 0.1) ------------------------------------------------------------


def test_dynamodb_reads_and_extends_sessions_written_in_format_1() -> None:
    async def scenario() -> None:
        async with isolated_dynamodb_url() as url:
            dynamodb, table = client("dynamodb"), _table(url)
            dynamodb.put_item(
                TableName=table,
                Item={
                    "pk": {"S": "s|app|user|session"},
                    "sk": {"S": "meta"},
                    "app": {"S": "app"},
                    "user": {"S": "user"},
                    "sid": {"S": "session"},
                    "rev": {"N": "3"},
                    "nseq": {"N": "3"},
                    "inc": {"S": "old"},
                    "cat": {"N": "100.5"},
                    "uat": {"N": "200.5"},
                    "lapp": {"S": "app"},
                    "luser": {"S": "app|user"},
                    "lupd": {"S": "0000000000200.500000"},
                    "$s": {"S": "1"},
                },
            )
            dynamodb.put_item(
                TableName=table,
                Item={
                    "pk": {"S": "e|old"},
                    "sk": {"S": "g|00000000000000000001"},
                    "ts": {"N": "150.25"},
                    "d": {"L": [{"S": '{"i":0}'}, {"S": '{"i":1}'}]},
                },
            )
            async with open_store(url) as store:
                record = await store.get_session(KEY)
                assert record is not None
                assert record.state == {"s": 1} and record.revision == 3
                assert record.base_state is None, "format 1 did not record it"
                assert [(e.seq, e.timestamp, e.data) for e in record.events] == [
                    (1, 150.25, {"i": 0}),
                    (2, 150.25, {"i": 1}),
                ]
                appended = await store.append_event(KEY, {"i": 2}, state_delta={"s": 2})
                assert (appended.seq, appended.revision) == (3, 4)
                assert await store.pop_item(KEY) == {"i": 2}
                assert await store.pop_item(KEY) == {"i": 1}
                assert await store.get_items(KEY) == [{"i": 0}]
                assert [r.key for r in (await store.list_sessions("app")).sessions] == [KEY]

    run(scenario())


def test_s3_reads_and_extends_sessions_written_in_format_1() -> None:
    async def scenario() -> None:
        async with isolated_s3_url() as url:
            s3 = client("s3")
            bucket, prefix = url.split("://", 1)[1].split("?", 1)[0].split("/", 1)
            segment = [[1, 150.0, '{"i":0}'], [2, 150.0, '{"i":1}']]
            s3.put_object(
                Bucket=bucket, Key=f"{prefix}/s/app/user/session/seg/s1", Body=json.dumps(segment)
            )
            index = f"{prefix}/x/app/0000000000200.500000/user/session/i1"
            s3.put_object(Bucket=bucket, Key=index, Body=b"")
            head = {
                "v": 1,
                "key": ["app", "user", "session"],
                "cat": 100.5,
                "uat": 200.5,
                "rev": 3,
                "nseq": 4,
                "state": {"s": {"deep": [1]}},
                "segs": [["s1", 1, 2]],
                "tail": [[3, 160.0, '{"i":2}']],
                "idx": index,
            }
            s3.put_object(
                Bucket=bucket, Key=f"{prefix}/s/app/user/session/head", Body=json.dumps(head)
            )
            s3.put_object(
                Bucket=bucket,
                Key=f"{prefix}/u/app/user",
                Body=json.dumps({"v": 1, "state": {"u": 1}}),
            )
            async with open_store(url) as store:
                record = await store.get_session(KEY)
                assert record is not None
                assert record.state == {"s": {"deep": [1]}, "user:u": 1}
                assert [e.data["i"] for e in record.events] == [0, 1, 2]
                assert (await store.get_events(KEY, page_size=2)).events[0].seq == 2
                await store.append_event(KEY, {"i": 3}, state_delta={"user:v": 2})
                assert await store.pop_item(KEY) == {"i": 3}
                assert await store.get_user_state("app", "user") == {"u": 1, "v": 2}
                assert [r.key for r in (await store.list_sessions("app")).sessions] == [KEY]
                assert await store.erase_app("app") == 1
            assert leftovers(url) == []

    run(scenario())
