"""Plugin discovery with real distributions installed by pip."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import omnisession
import pytest
from omnisession import Capability, InvalidOption, UnknownBackend
from omnisession._builtin import ADK_OPTIONS
from omnisession.memory import MemoryStore
from omnisession.plugins import Registry, install_hint, registry

from .conftest import run_cli


def test_memory_is_registered_through_the_entry_point_hook() -> None:
    backend = registry().resolve("memory://")
    assert backend.name == "memory"
    assert backend.distribution == "omnisession"
    assert Capability.BASE in backend.capabilities


@pytest.mark.usefixtures("with_plugins")
def test_third_party_plugin_is_found_with_its_distribution() -> None:
    reg = registry()
    fake = reg.resolve("fake://x")
    assert (fake.name, fake.distribution, fake.version) == (
        "fake",
        "omnisession-fake-plugin",
        "1.2.3",
    )
    assert "omnisession_fake_plugin.store" not in sys.modules, "listing must not import factories"
    store = omnisession.open_store("fake://")
    assert type(store).__name__ == "RacyPopStore"


@pytest.mark.usefixtures("with_plugins")
def test_broken_plugin_is_reported_and_others_still_load() -> None:
    reg = registry()
    errors = {err.plugin: err for err in reg.errors}
    assert "broken" in errors
    assert errors["broken"].distribution == "omnisession-broken-plugin"
    assert "frobnicator" in errors["broken"].error
    assert {"memory", "fake"} <= set(reg.by_scheme)


@pytest.mark.usefixtures("with_plugins")
def test_scheme_collision_is_reported_and_core_keeps_its_scheme() -> None:
    reg = registry()
    assert reg.resolve("memory://").name == "memory"
    collision = [err for err in reg.errors if "imposter" in err.plugin or "imposter" in err.error]
    assert collision and "'memory' is already provided" in collision[0].error
    assert isinstance(omnisession.open_store("memory://"), MemoryStore)


def test_unknown_scheme_names_the_installed_ones() -> None:
    with pytest.raises(UnknownBackend) as info:
        omnisession.open_store("nosuchdb://host/db")
    message = str(info.value)
    assert "'nosuchdb'" in message and "memory" in message
    assert "omnisession-sqlalchemy, omnisession-redis, omnisession-aws" in message


@pytest.mark.parametrize(
    ("scheme", "command"),
    [
        ("sqlite", "pip install omnisession-sqlalchemy"),
        ("sqlite+aiosqlite", "pip install omnisession-sqlalchemy"),
        ("postgresql", "pip install 'omnisession-sqlalchemy[postgresql]'"),
        ("postgres", "pip install 'omnisession-sqlalchemy[postgresql]'"),
        ("postgresql+asyncpg", "pip install 'omnisession-sqlalchemy[postgresql]'"),
        ("mysql", "pip install 'omnisession-sqlalchemy[mysql]'"),
        ("mariadb", "pip install 'omnisession-sqlalchemy[mysql]'"),
        ("mysql+asyncmy", "pip install 'omnisession-sqlalchemy[mysql]'"),
        ("redis", "pip install omnisession-redis"),
        ("rediss", "pip install omnisession-redis"),
        ("unix", "pip install omnisession-redis"),
        ("redis+cluster", "pip install omnisession-redis"),
        ("rediss+cluster", "pip install omnisession-redis"),
        ("dynamodb", "pip install omnisession-aws"),
        ("s3", "pip install omnisession-aws"),
        ("adk+memory", "pip install 'omnisession[adk]'"),
        ("adk+sqlite", "pip install 'omnisession[adk]'"),
        ("adk+db", "pip install 'omnisession[adk-db]'"),
        ("adk+vertexai", "pip install 'omnisession[vertexai]'"),
        ("REDIS", "pip install omnisession-redis"),
    ],
)
def test_install_hints_name_the_distribution_and_extra_of_each_scheme(
    scheme: str, command: str
) -> None:
    assert f"install it with `{command}`" in install_hint(scheme)


def test_a_missing_plugin_is_named_by_the_error_of_its_scheme() -> None:
    empty = Registry(registry().plugin_manager)
    with pytest.raises(UnknownBackend, match=r"omnisession-redis") as caught:
        empty.resolve("redis://localhost:6379/0")
    assert "installed schemes: none" in str(caught.value)
    assert "sqlalchemy" not in str(caught.value), "the hint must name redis's distribution"


def _extras(distribution_dir: str) -> set[str]:
    text = (Path(__file__).parents[2] / distribution_dir / "pyproject.toml").read_text()
    data = tomllib.loads(text)
    return set(data["project"].get("optional-dependencies", {}))


def test_the_extras_install_hints_name_exist() -> None:
    assert {"adk", "adk-db", "vertexai"} <= _extras("core")
    assert {"postgresql", "mysql"} <= _extras("plugins/sqlalchemy")


def test_each_builtin_backend_lists_its_options_and_capabilities() -> None:
    memory = registry().resolve("memory://")
    assert memory.options == ()
    assert memory.capabilities == MemoryStore.capabilities
    adk = registry().resolve("adk+db://x")
    names = [option.name for option in adk.options]
    assert names == [option.name for option in ADK_OPTIONS]
    assert {"ids", "pool_size", "express_mode_api_key"} <= set(names)
    assert all(option.doc for option in adk.options)
    assert set(adk.optional_capabilities) == {Capability.PERSISTENT, Capability.LARGE_ENTRIES}
    assert all(how for how in adk.optional_capabilities.values())
    assert not set(adk.optional_capabilities) & adk.capabilities


def test_backend_describe_gives_everything_backends_lists() -> None:
    backend = registry().resolve("adk+db://x")
    described = backend.describe()
    json.dumps(described)  # JSON-ready as it is
    assert described["name"] == "adk" and "adk+db" in described["schemes"]
    assert described["capabilities"] == ["base", "replace"]
    assert set(described["optional_capabilities"]) == {"large_entries", "persistent"}
    pool = next(option for option in described["options"] if option["name"] == "pool_size")
    assert pool == {
        "name": "pool_size",
        "type": "int",
        "default": None,
        "doc": pool["doc"],
        "choices": None,
        "minimum": 1,
    }
    ids = next(option for option in described["options"] if option["name"] == "ids")
    assert ids["choices"] == ["plain", "hashed"] and ids["type"] == "str"


@pytest.mark.parametrize("url", ["", "memory", "/tmp/x.db", "no scheme here"])
def test_a_url_without_scheme_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="scheme://"):
        omnisession.open_store(url)


def test_memory_urls_name_shared_engines() -> None:
    from omnisession.memory import open_memory_store, release_engine

    assert open_memory_store("memory://")._engine is not open_memory_store("memory://")._engine
    assert open_memory_store("memory://a")._engine is open_memory_store("memory://a")._engine
    assert open_memory_store("memory://a")._engine is not open_memory_store("memory://b")._engine
    held = open_memory_store("memory://a")
    release_engine("a")
    assert open_memory_store("memory://a")._engine is not held._engine, "released: a fresh one"
    with pytest.raises(InvalidOption, match=r"unknown memory option 'bogus'.*accepts: none"):
        open_memory_store("memory://", bogus=1)
    with pytest.raises(InvalidOption, match="'bogus'"):
        open_memory_store("memory://x?bogus=1")


def test_cli_backends_lists_memory_and_plugin_errors(plugin_site: Path) -> None:
    result = run_cli("backends", "--json", site=plugin_site)
    assert result.returncode == 1, "a plugin that failed to load makes the listing fail"
    assert "plugin broken (omnisession-broken-plugin) failed to load" in result.stderr
    data = json.loads(result.stdout)
    names = {b["name"]: b for b in data["backends"]}
    assert names["memory"]["schemes"] == ["memory"]
    assert names["fake"]["distribution"] == "omnisession-fake-plugin"
    assert any(e["plugin"] == "broken" for e in data["errors"])
    text = run_cli("backends", site=plugin_site)
    assert "memory  (omnisession" in text.stdout
    assert "plugin broken" in text.stderr and text.returncode == 1


def test_cli_conformance_memory_reaches_base() -> None:
    result = run_cli("conformance", "memory://")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "level: BASE" in result.stdout
    assert "FAILED" not in result.stdout
    as_json = json.loads(run_cli("conformance", "memory://", "--json").stdout)
    assert as_json["level"].startswith("BASE")
    assert all(r["status"] != "failed" for r in as_json["results"])


def test_cli_conformance_of_a_broken_plugin_fails_naming_the_case(plugin_site: Path) -> None:
    result = run_cli("conformance", "fake://", site=plugin_site)
    assert result.returncode == 1
    assert "level: NONCONFORMANT" in result.stdout
    assert "FAILED concurrent_pops_return_each_item_once" in result.stdout


def test_cli_unknown_scheme_exits_2_with_the_reason() -> None:
    result = run_cli("conformance", "nosuchdb://x")
    assert result.returncode == 2
    assert "no backend handles the scheme 'nosuchdb'" in result.stderr
