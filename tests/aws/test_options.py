"""Options and capabilities as data: declared once, parsed by core, checked before any I/O;
discovery without boto3; the package is typed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omnisession import Capability, InvalidOption, open_store
from omnisession.plugins import registry
from omnisession_aws.capabilities import (
    DYNAMODB_CAPABILITIES,
    DYNAMODB_OPTIONAL_CAPABILITIES,
    S3_CAPABILITIES,
)
from omnisession_aws.options import DYNAMODB_OPTIONS, S3_OPTIONS

from .support import url_of


def test_backends_publish_the_declared_options_and_capabilities() -> None:
    found = registry(reload=True)
    dynamodb, s3 = found.resolve("dynamodb://t"), found.resolve("s3://b")
    assert dynamodb.options == DYNAMODB_OPTIONS and s3.options == S3_OPTIONS
    assert dynamodb.capabilities == DYNAMODB_CAPABILITIES
    assert dynamodb.optional_capabilities == DYNAMODB_OPTIONAL_CAPABILITIES
    assert s3.capabilities == S3_CAPABILITIES and dict(s3.optional_capabilities) == {}
    names = {option.name for option in DYNAMODB_OPTIONS}
    assert {"command_timeout", "ttl", "region", "endpoint_url", "create"} <= names
    assert "ttl" not in {option.name for option in S3_OPTIONS}
    timeout = next(option for option in DYNAMODB_OPTIONS if option.name == "command_timeout")
    assert timeout.default == 15.0


def test_an_opened_store_declares_what_its_backend_promises() -> None:
    plain = open_store("dynamodb://t")
    assert plain.capabilities == DYNAMODB_CAPABILITIES
    with_ttl = open_store("dynamodb://t?ttl=60")
    assert with_ttl.capabilities == DYNAMODB_CAPABILITIES | {Capability.TTL}
    assert open_store("s3://b/p").capabilities == S3_CAPABILITIES
    assert {Capability.REPLACE, Capability.LIFECYCLE} <= S3_CAPABILITIES
    assert {Capability.REPLACE, Capability.LIFECYCLE} <= DYNAMODB_CAPABILITIES


@pytest.mark.parametrize(
    ("url", "keywords", "says"),
    [
        ("dynamodb://t?regoin=eu-west-1", {}, "did you mean 'region'"),
        ("dynamodb://t", {"comand_timeout": 3}, "did you mean 'command_timeout'"),
        ("s3://b/p?ttl=5", {}, "'ttl'"),
        ("dynamodb://t?ttl=-5", {}, "at least 1"),
        ("dynamodb://t?ttl=soon", {}, "must be a number"),
        ("dynamodb://t?command_timeout=0", {}, "at least 0.1"),
        ("dynamodb://t?max_attempts=0", {}, "at least 1"),
        ("s3://b/p?create=maybe", {}, "true or false"),
        ("dynamodb://", {}, "table name"),
        ("s3:///p", {}, "bucket"),
    ],
)
def test_bad_options_are_invalid_option_before_any_io(
    url: str, keywords: dict[str, object], says: str
) -> None:
    with pytest.raises(InvalidOption, match=says) as info:
        open_store(url, **keywords)
    assert isinstance(info.value, ValueError), "the README promises a ValueError"


def test_an_unknown_option_names_the_valid_ones() -> None:
    with pytest.raises(InvalidOption) as info:
        open_store("s3://b/p?bogus=1")
    for option in S3_OPTIONS:
        assert option.name in str(info.value)


def test_options_reach_the_store() -> None:
    store = open_store(url_of("dynamodb", "t", ttl=90, command_timeout=4, max_attempts=3))
    options = store.options  # type: ignore[attr-defined]
    assert (options.ttl, options.command_timeout, options.max_attempts) == (90.0, 4.0, 3)
    assert store.client.meta.config.read_timeout == 4.0  # type: ignore[attr-defined]
    keyword = open_store("s3://b/p", command_timeout="2.5", create=True)
    assert keyword.options.command_timeout == 2.5 and keyword.options.create  # type: ignore[attr-defined]


def test_backends_are_listed_without_importing_boto3() -> None:
    code = (
        "import sys; from omnisession.plugins import registry; r = registry(); "
        "print(sorted(r.by_scheme)); print(len(r.resolve('dynamodb://t').options)); "
        "print('boto3' in sys.modules or 'botocore' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    schemes, options, imported = result.stdout.splitlines()
    assert "'dynamodb'" in schemes and "'s3'" in schemes
    assert int(options) == len(DYNAMODB_OPTIONS)
    assert imported == "False"


def test_the_package_is_typed() -> None:
    import omnisession_aws

    assert (Path(omnisession_aws.__file__).parent / "py.typed").is_file()
