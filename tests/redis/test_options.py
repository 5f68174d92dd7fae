"""Options, capabilities, registration and the key layout of the Redis backend (no server).

Options are declared once (``omnisession_redis.options.OPTIONS``) and read by
core's ``parse_options``: an unknown or misspelt one is an ``InvalidOption``
naming the valid ones, before any I/O.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from omnisession import Capability, InvalidOption, SessionKey, open_store
from omnisession.plugins import registry
from omnisession_redis import RedisStore
from omnisession_redis.capabilities import CAPABILITIES, OPTIONAL_CAPABILITIES
from omnisession_redis.connect import _cluster_nodes
from omnisession_redis.keys import KeyLayout, decode_name, encode_name, escape, unescape
from omnisession_redis.options import DEFAULT_COMMAND_TIMEOUT, OPTIONS
from redis.crc import key_slot


def test_listing_backends_imports_no_driver() -> None:
    """The entry point registers every scheme, the options and capabilities with a lazy
    factory: listing backends imports neither redis-py nor the store module."""
    code = (
        "import sys, json; from omnisession.plugins import registry; reg = registry(); "
        "b = reg.by_scheme['redis']; "
        "print(json.dumps({'schemes': list(b.schemes), 'dist': b.distribution, "
        "'options': [o.name for o in b.options], "
        "'loaded': sorted(m for m in sys.modules if m == 'redis' or m.startswith('redis.') "
        "or m == 'omnisession_redis.store')}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    info = json.loads(done.stdout)
    assert info["schemes"] == ["redis", "rediss", "unix", "redis+cluster", "rediss+cluster"]
    assert info["dist"] == "omnisession-redis"
    assert info["options"] == [option.name for option in OPTIONS]
    assert info["loaded"] == []


def test_the_backend_declares_its_capabilities_once() -> None:
    backend = registry().by_scheme["redis"]
    assert backend.capabilities == CAPABILITIES
    assert dict(backend.optional_capabilities) == dict(OPTIONAL_CAPABILITIES)
    assert {Capability.REPLACE, Capability.LIFECYCLE, Capability.CROSS_PROCESS} <= CAPABILITIES
    assert set(OPTIONAL_CAPABILITIES) == {Capability.TTL, Capability.PERSISTENT, Capability.CLUSTER}


@pytest.mark.parametrize(
    ("url", "optional"),
    [
        ("redis://127.0.0.1:6379/0", set()),
        ("rediss://user:secret@example.com:6380/1?ttl=60", {Capability.TTL}),
        ("unix:///tmp/redis.sock?db=2&persistent=true", {Capability.PERSISTENT}),
        ("redis+cluster://127.0.0.1:7000,127.0.0.1:7001", {Capability.CLUSTER}),
        ("rediss+cluster://h:1?ttl=5&persistent=1", set(OPTIONAL_CAPABILITIES)),
    ],
)
def test_every_scheme_opens_a_store_without_io_declaring_what_it_should(
    url: str, optional: set[Capability]
) -> None:
    """An opened store declares every capability of the backend and exactly the
    optional ones its configuration gives."""
    store = open_store(url)
    assert isinstance(store, RedisStore)
    assert registry().resolve(url).name == "redis"
    assert store.capabilities == CAPABILITIES | optional
    assert store.cluster == ("+cluster" in url)
    assert "secret" not in store.location


def test_options_come_from_the_url_or_keywords() -> None:
    store = open_store("redis://localhost/0?prefix=chat&ttl=60&persistent=true&client_name=x")
    assert isinstance(store, RedisStore)
    assert store.prefix == "chat"
    assert store.conformance_ttl == 60.0
    assert store.command_timeout == DEFAULT_COMMAND_TIMEOUT == 15.0
    plain = open_store("redis://localhost/0?prefix=chat", prefix="other", user_ttl=5)
    assert isinstance(plain, RedisStore)
    assert plain.prefix == "other"
    assert Capability.TTL not in plain.capabilities
    assert Capability.PERSISTENT not in plain.capabilities
    timed = open_store("redis://localhost/0?command_timeout=2.5")
    assert isinstance(timed, RedisStore) and timed.command_timeout == 2.5


def test_a_misspelt_option_names_the_right_one_before_any_io() -> None:
    """?tll=60 used to reach redis-py as a raw TypeError; now it is InvalidOption naming
    ttl (the port is closed: any I/O would fail differently)."""
    with pytest.raises(InvalidOption, match="'tll' \\(did you mean 'ttl'\\?\\)") as info:
        open_store("redis://127.0.0.1:1/0?tll=60")
    assert "command_timeout" in str(info.value), "the message lists the valid options"
    with pytest.raises(InvalidOption, match="socket_timeout"):
        open_store("redis://127.0.0.1:1/0", socket_timeout=3)


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("redis://localhost?prefix=a{b}", {}, "'{'"),
        ("redis://localhost", {"prefix": ""}, "empty"),
        ("redis://localhost", {"prefix": "bad\udc80"}, "unicode"),
        ("redis://localhost?ttl=soon", {}, "a number"),
        ("redis://localhost", {"ttl": -1}, "at least 0"),
        ("redis://localhost?command_timeout=0", {}, "at least"),
        ("redis://localhost?persistent=maybe", {}, "true or false"),
        ("redis://localhost?ssl_ca_certs=/ca.pem", {}, "rediss://"),
        ("rediss://localhost?ssl_cert_reqs=sometimes", {}, "none, optional, required"),
        ("redis://localhost/0?db=2", {}, "unix://"),
        ("redis+cluster://h:1?db=1", {}, "database 0"),
        ("redis+cluster://host:notaport", {}, "host:port"),
        ("redis+cluster://", {}, "at least one node"),
        ("redis://localhost?decode_responses=yes", {}, "decode_responses"),
    ],
)
def test_bad_options_are_invalid_options(
    url: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidOption, match=message.replace("{", "\\{")):
        open_store(url, **options)


def test_tls_options_reach_the_driver() -> None:
    store = open_store("rediss://h:6380/0?ssl_cert_reqs=none&ssl_check_hostname=false")
    assert isinstance(store, RedisStore)


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


def test_state_names_with_lone_surrogates_encode_without_error_and_stay_distinct() -> None:
    names = ["plain", "ü", "🙂", "\ud83d\ude42", "\ud83d", "\udc00", "a\udfffb"]
    encoded = [encode_name(name) for name in names]
    assert len(set(encoded)) == len(names), "two names share a hash field"
    assert [decode_name(e if isinstance(e, bytes) else e.encode()) for e in encoded] == names


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
            assert layout.app_of(layout.app(app)[0].encode()) == app
            for name in session_keys + user_keys:
                assert name not in seen
                seen.add(name)
