"""URLs, options, registration and the key layout of the Redis backend (no server needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from omnisession import Capability, SessionKey, open_store
from omnisession.plugins import registry
from omnisession_redis import RedisStore
from omnisession_redis.keys import KeyLayout, escape, unescape
from omnisession_redis.urls import _cluster_nodes
from redis.crc import key_slot


def test_listing_backends_imports_no_driver() -> None:
    """The entry point registers every scheme with a lazy factory: no redis import to list."""
    code = (
        "import sys, json; from omnisession.plugins import registry; reg = registry(); "
        "b = reg.by_scheme['redis']; "
        "print(json.dumps({'schemes': list(b.schemes), 'dist': b.distribution, "
        "'loaded': 'omnisession_redis.store' in sys.modules}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    info = json.loads(done.stdout)
    assert info["schemes"] == ["redis", "rediss", "unix", "redis+cluster", "rediss+cluster"]
    assert info["dist"] == "omnisession-redis"
    assert info["loaded"] is False


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://user:secret@example.com:6380/1",
        "unix:///tmp/redis.sock?db=2",
        "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
    ],
)
def test_every_scheme_opens_a_redis_store_without_io(url: str) -> None:
    store = open_store(url)
    assert isinstance(store, RedisStore)
    assert registry().resolve(url).name == "redis"
    assert store.cluster == url.startswith("redis+cluster")
    assert (Capability.CLUSTER in store.capabilities) == store.cluster
    assert "secret" not in store.location


def test_options_come_from_the_url_or_keywords() -> None:
    store = open_store("redis://localhost/0?prefix=chat&ttl=60&persistent=true&client_name=x")
    assert isinstance(store, RedisStore)
    assert store.prefix == "chat"
    assert {Capability.TTL, Capability.PERSISTENT, Capability.CROSS_PROCESS} <= store.capabilities
    plain = open_store("redis://localhost/0?prefix=chat", prefix="other", user_ttl=5)
    assert isinstance(plain, RedisStore)
    assert plain.prefix == "other"
    # Without ttl sessions never expire, and persistence is only declared on request.
    assert Capability.TTL not in plain.capabilities
    assert Capability.PERSISTENT not in plain.capabilities


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("redis://localhost?prefix=a{b}", {}, "brace"),
        ("redis://localhost", {"prefix": ""}, "non-empty"),
        ("redis://localhost?ttl=soon", {}, "seconds"),
        ("redis://localhost", {"ttl": -1}, "seconds"),
        ("redis://localhost?persistent=maybe", {}, "true or false"),
        ("redis+cluster://host:notaport", {}, "host:port"),
        ("redis+cluster://", {}, "at least one node"),
        ("redis://localhost?decode_responses=yes", {}, "decode_responses"),
    ],
)
def test_bad_options_are_rejected_clearly(
    url: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("brace", "'{'")):
        open_store(url, **options)


def test_cluster_urls_take_credentials_and_ipv6_nodes() -> None:
    nodes, user, password = _cluster_nodes("me:p%40ss@10.0.0.1:7000,[::1]:7001,host")
    assert [(n.host, n.port) for n in nodes] == [("10.0.0.1", 7000), ("::1", 7001), ("host", 6379)]
    assert (user, password) == ("me", "p@ss")


HOSTILE = ["a:b", "a", "b", "{x}", "}{", "%7B", "a%3Ab", "a/b", " ", "ü🙂", "{", "}", "::", "%"]


def test_escaping_is_injective_and_never_yields_separators_or_braces() -> None:
    escaped = {escape(ident) for ident in HOSTILE}
    assert len(escaped) == len(HOSTILE)
    for ident in HOSTILE:
        assert not set(escape(ident)) & set(":{}")
        assert unescape(escape(ident)) == ident


def test_every_key_of_a_session_shares_one_slot_whatever_its_ids() -> None:
    """Hash tags: braces in ids cannot move a session's keys to different slots."""
    layout = KeyLayout("p")
    seen: set[str] = set()
    for app in HOSTILE:
        for user in HOSTILE[:4]:
            key = SessionKey(app, user, "{s}:" + app)
            session_keys = layout.session(key)
            assert len({key_slot(k.encode()) for k in session_keys}) == 1
            user_keys = layout.user(app, user)
            assert len({key_slot(k.encode()) for k in user_keys}) == 1
            assert len({key_slot(k.encode()) for k in layout.app(app)}) == 1
            for name in session_keys + user_keys:
                assert name not in seen
                seen.add(name)
