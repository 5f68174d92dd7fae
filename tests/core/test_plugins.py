"""Plugin discovery with real distributions installed by pip."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import omnisession
import pytest
from omnisession import Capability, UnknownBackend
from omnisession.memory import MemoryStore
from omnisession.plugins import registry

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
    assert "'nosuchdb'" in message and "memory" in message and "pip install" in message


@pytest.mark.parametrize("url", ["", "memory", "/tmp/x.db", "no scheme here"])
def test_a_url_without_scheme_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="scheme://"):
        omnisession.open_store(url)


def test_memory_urls_name_shared_engines() -> None:
    from omnisession.memory import open_memory_store

    assert open_memory_store("memory://")._engine is not open_memory_store("memory://")._engine
    assert open_memory_store("memory://a")._engine is open_memory_store("memory://a")._engine
    assert open_memory_store("memory://a")._engine is not open_memory_store("memory://b")._engine
    with pytest.raises(TypeError):
        open_memory_store("memory://", bogus=1)


def test_cli_backends_lists_memory_and_plugin_errors(plugin_site: Path) -> None:
    result = run_cli("backends", "--json", site=plugin_site)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    names = {b["name"]: b for b in data["backends"]}
    assert names["memory"]["schemes"] == ["memory"]
    assert names["fake"]["distribution"] == "omnisession-fake-plugin"
    assert any(e["plugin"] == "broken" for e in data["errors"])
    text = run_cli("backends", site=plugin_site).stdout
    assert "memory  (omnisession" in text and "FAILED plugin broken" in text


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
