"""parse_options: the one reader of store options, from a URL's query and keywords.

What a user relies on: a typo never goes unnoticed (it names the option meant
and lists every valid one), a value of the wrong kind says what kind it must
be, and both happen when the store is opened, before any I/O.
"""

from __future__ import annotations

from typing import Any

import pytest
from omnisession import InvalidOption, Option
from omnisession.options import parse_options

OPTIONS = (
    Option("ttl", float, None, "seconds a session lives", minimum=0),
    Option("pool_size", int, 5, "connections per loop", minimum=1),
    Option("create", bool, False, "create the table"),
    Option("prefix", str, "os:", "key prefix"),
    Option("mode", str, "NORMAL", "sync mode", choices=("OFF", "NORMAL", "FULL")),
)


def parse(url: str, **keywords: Any) -> Any:
    return parse_options(OPTIONS, url, keywords, backend="mydb")


def test_defaults_fill_every_option_not_given() -> None:
    parsed = parse("mydb://host/db")
    assert parsed.url == "mydb://host/db"
    assert parsed.options == {
        "ttl": None,
        "pool_size": 5,
        "create": False,
        "prefix": "os:",
        "mode": "NORMAL",
    }
    assert parsed.given == frozenset()


def test_url_text_is_converted_to_each_declared_type() -> None:
    parsed = parse("mydb://host/db?ttl=1.5&pool_size=%2012&create=yes&prefix=a%3Ab&mode=full")
    assert parsed.options == {
        "ttl": 1.5,
        "pool_size": 12,
        "create": True,
        "prefix": "a:b",
        "mode": "FULL",  # compared case-insensitively, returned as declared
    }
    assert parsed.given == {"ttl", "pool_size", "create", "prefix", "mode"}
    assert parsed.url == "mydb://host/db"


@pytest.mark.parametrize(
    ("text", "value"),
    [(word, True) for word in ("1", "true", "YES", "on")]
    + [(word, False) for word in ("0", "false", "No", "off")],
)
def test_booleans_accept_the_usual_words(text: str, value: bool) -> None:
    assert parse(f"mydb://h?create={text}").options["create"] is value


def test_keywords_win_over_the_url_and_keep_python_values() -> None:
    parsed = parse("mydb://h?pool_size=3&ttl=9", pool_size=7, create=True, ttl=2)
    assert parsed.options["pool_size"] == 7
    assert parsed.options["create"] is True
    assert parsed.options["ttl"] == 2.0 and isinstance(parsed.options["ttl"], float)
    assert parse("mydb://h", ttl=None).options["ttl"] is None


@pytest.mark.parametrize(
    ("url", "keywords", "message"),
    [
        (
            "mydb://h?pool_sise=5",
            {},
            r"unknown mydb option 'pool_sise' \(did you mean 'pool_size'\?\)",
        ),
        ("mydb://h?tll=60", {}, r"'tll' \(did you mean 'ttl'\?\)"),
        ("mydb://h", {"crate": True}, r"'crate' \(did you mean 'create'\?\)"),
        ("mydb://h?zzz=1&yyy=2", {}, r"unknown mydb option 'yyy', 'zzz'"),
    ],
)
def test_unknown_or_misspelt_options_name_the_valid_ones(
    url: str, keywords: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidOption, match=message) as caught:
        parse(url, **keywords)
    assert "accepts: create, mode, pool_size, prefix, ttl" in str(caught.value)
    assert "omnisession backends" in str(caught.value)


def test_a_backend_without_options_says_so() -> None:
    with pytest.raises(InvalidOption, match="accepts: none"):
        parse_options((), "memory://x?bogus=1", backend="memory")


@pytest.mark.parametrize(
    ("url", "keywords", "message"),
    [
        ("mydb://h?pool_size=five", {}, "pool_size='five' must be an integer: connections"),
        ("mydb://h?pool_size=2.5", {}, "must be an integer"),
        ("mydb://h?pool_size=", {}, "must be an integer"),
        ("mydb://h", {"pool_size": 2.5}, "must be an integer"),
        ("mydb://h", {"pool_size": True}, "must be an integer"),
        ("mydb://h?pool_size=0", {}, "pool_size='0' must be at least 1"),
        ("mydb://h?ttl=soon", {}, "ttl='soon' must be a number"),
        ("mydb://h?ttl=inf", {}, "must be a number"),
        ("mydb://h?ttl=nan", {}, "must be a number"),
        ("mydb://h?ttl=-1", {}, "at least 0"),
        ("mydb://h", {"ttl": 10**400}, "must be a number"),
        ("mydb://h?create=maybe", {}, "create='maybe' must be true or false"),
        ("mydb://h", {"create": 2}, "must be true or false"),
        ("mydb://h", {"prefix": 3}, "prefix=3 must be text"),
        ("mydb://h?mode=fast", {}, "mode='fast' must be one of OFF, NORMAL, FULL"),
    ],
)
def test_values_of_the_wrong_kind_say_what_they_must_be(
    url: str, keywords: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidOption, match=message):
        parse(url, **keywords)


def test_invalid_option_is_a_value_error() -> None:
    assert issubclass(InvalidOption, ValueError)


@pytest.mark.parametrize(
    "url",
    ["sqlite:////abs/path.db", "unix:///run/redis.sock", "sqlite://", "mydb://u:p@h:1/db"],
)
def test_the_location_is_kept_exactly_as_written(url: str) -> None:
    assert parse(url + "?pool_size=2").url == url
    assert parse(url + "#fragment").url == url
