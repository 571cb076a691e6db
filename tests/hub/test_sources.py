"""Module sources behind one interface: their order, the registry, and refused init_args."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from support import make_module

import finehub
from finehub import errors
from finehub.hub import loader, sources, store
from finehub.hub.module import ModuleBase, init_arg_names, moduleinfo


@moduleinfo(name="toy", version="1.0.0")
class Toy(ModuleBase):
    """Takes ``size`` by name and ``colour`` through **kwargs, forwarding the rest."""

    def __init__(self, *, directory: Any = None, size: int = 1, **kwargs: Any) -> None:
        self.colour = kwargs.pop("colour", "red")
        super().__init__(directory=directory, **kwargs)
        self.size = size


class ToySource(sources.ModuleSource):
    name = "toy"

    def candidates(self, name: str) -> list[sources.Candidate]:
        return [sources.Candidate(name, v, "toy", origin="memory") for v in ("1.0.0", "2.0.0")]

    def load(
        self, candidate: sources.Candidate, *, allow_pickle: bool, init_args: Mapping[str, Any]
    ) -> ModuleBase:
        return Toy(**init_args)


@pytest.fixture
def toy_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "_REGISTRY", dict(sources._REGISTRY))
    sources.register(ToySource())


def test_unknown_init_arg_is_refused_naming_it_and_the_accepted_ones() -> None:
    with pytest.raises(errors.ConfigError) as err:
        finehub.Module("minilm-l6", nonsense=1)
    msg = str(err.value)
    assert "'nonsense'" in err.value.field and "minilm-l6" in err.value.field
    assert "device, max_seq_len, pooling, precision" in msg


def test_kwargs_a_class_consumes_itself_are_accepted_and_the_rest_refused() -> None:
    toy = Toy(size=3, colour="blue")
    assert (toy.size, toy.colour) == (3, "blue")
    assert init_arg_names(Toy) == ["size"]
    with pytest.raises(errors.ConfigError, match="Did you mean size"):
        Toy(sise=3)


def test_folder_module_init_args_from_caller_and_manifest_are_checked(
    tmp_path: Path, fresh_home: Path
) -> None:
    folder = make_module(tmp_path)
    assert finehub.Module(str(folder), offset=1.0).scale([1.0]) == [3.0]
    with pytest.raises(errors.ConfigError, match="'ofset'.*Did you mean offset"):
        finehub.Module(str(folder), ofset=1.0)
    manifest = folder / "module.json"
    manifest.write_text(
        manifest.read_text().replace('"assets"', '"config": {"init_args": {"gain": 2}}, "assets"')
    )
    with pytest.raises(errors.ConfigError, match="'gain'"):
        finehub.Module(str(folder))


def test_first_source_with_a_usable_version_wins(tmp_path: Path, fresh_home: Path) -> None:
    store.install_folder(make_module(tmp_path, name="minilm-l6", version="9.0.0"))
    assert loader.resolve("minilm-l6").source == "entrypoint"  # entry points come before the store
    assert loader.resolve("minilm-l6", "==9.0.0").source == "local"
    assert (
        loader.resolve("minilm-l6", source="local").folder == fresh_home / "modules" / "minilm-l6" / "9.0.0"
    )


def test_broken_entry_point_is_listed_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    eps = [EntryPoint("broken", "no.such.package:Thing", loader.ENTRY_POINT_GROUP)]
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: eps)
    loader.entry_point_candidates.cache_clear()
    try:
        with pytest.raises(errors.ModuleNotFoundInHubError) as err:
            loader.resolve("broken", source="entrypoint")
    finally:
        loader.entry_point_candidates.cache_clear()
    assert err.value.rejected == [
        "broken==0 from entrypoint (no.such.package:Thing): "
        "its entry point fails to load (see the warning above)"
    ]


def test_a_registered_source_resolves_and_loads(toy_registry: None) -> None:
    cand = loader.resolve("anything", ">=1,<2", source="toy")  # type: ignore[arg-type]
    assert (cand.name, cand.version, cand.source) == ("anything", "1.0.0", "toy")
    module = loader.load_candidate(cand, init_args={"size": 5})
    assert isinstance(module, Toy) and module.size == 5


def test_registering_a_source_name_twice_is_an_error(toy_registry: None) -> None:
    with pytest.raises(errors.ConfigError, match="registered twice, by ToySource and by ToySource"):
        sources.register(ToySource())
    with pytest.raises(errors.ConfigError, match="no module source 'npm'; use one of entrypoint, local"):
        sources.get("npm")


def test_hf_reference_is_claimed_by_the_hf_source_alone(fresh_home: Path) -> None:
    cand = loader.resolve("hf://org/minilm@abc")
    assert (cand.source, cand.name, cand.origin) == ("hf", "minilm", "hf://org/minilm@abc")
    assert cand.index_entry is not None and cand.index_entry.entry == sources.DEFAULT_HF_ENTRY
    assert sources.claiming("hf://org/minilm") is sources.get("hf")
    assert sources.claiming("minilm-l6") is None
    with pytest.raises(errors.ConfigError, match="hf://org/repo@revision"):
        loader.resolve("hf://no-org")


@pytest.mark.parametrize(
    ("name", "version", "problem"),
    [("x==1", "2", "given both in the name"), ("x", "=>1", "is not a version constraint")],
)
def test_bad_version_constraints_are_config_errors(name: str, version: str, problem: str) -> None:
    with pytest.raises(errors.ConfigError, match=problem) as err:
        loader.split_requirement(name, version)
    assert err.value.field == "version"
