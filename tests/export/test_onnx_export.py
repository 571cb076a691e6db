"""ONNX export of every task's module: parity with PyTorch, refusal beyond tolerance, int8
quantisation, the CLI, and the exported module running without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from finetune.finetune_support import tiny_backbone
from typer.testing import CliRunner

import finehub as hub
import finehub.data.builtin.lfw_faces  # noqa: F401  (registers lfw-faces)
from finehub.cli.export import register
from finehub.data.dataset import Dataset, TextExample
from finehub.data.examples_extra import TokenExample
from finehub.errors import ConfigError, ExportError, ModuleInputError
from finehub.finetune.export import export_folder
from finehub.finetune.onnx_export import export_onnx
from finehub.finetune.tasks.image_classification import ImageClassificationTask
from finehub.finetune.tasks.multilabel import MultiLabelClassificationTask
from finehub.finetune.tasks.regression import RegressionTask
from finehub.finetune.tasks.sequence_labeling import SequenceLabelingTask
from finehub.finetune.tasks.text_classification import TextClassificationTask
from finehub.finetune.tasks.text_matching import TextMatchingTask

TEXTS = ["w1 w2 w3", "w30 w31 w5 w6 w7 w8", "w9"]
INPUTS = {
    "text-classification": TEXTS,
    "multilabel-classification": TEXTS,
    "text-regression": TEXTS,
    "sequence-labeling": TEXTS,
    "text-matching": [["w1 w2", "w3"], ["w30 w31 w32", "w9 w1"]],
}


def cached_classifier(backbone) -> TextClassificationTask:
    """A classifier on cached features of a frozen encoder: hidden head, standardised features."""
    backbone.model.requires_grad_(False)
    task = TextClassificationTask(
        backbone, num_classes=3, max_seq_len=16, cache_features=True, head_hidden_size=8
    )
    task.model.standardize_by(torch.randn(64, backbone.hidden_size) * 3 + 1)
    return task


def build(kind: str, root: Path) -> Path:
    """An exported (untrained: fresh heads are enough for parity) module folder of ``kind``; three
    kinds have a hidden layer in their head, which the exported module must rebuild."""
    if kind == "image-classification":
        task = ImageClassificationTask(
            hub.Module("efficientnet-lite0-imagenet"),
            num_classes=2,
            image_size=32,
            label_names=["non-face", "face"],
        )
    else:
        backbone = tiny_backbone(seed=1)
        task = {
            "text-classification": lambda: cached_classifier(backbone),
            "multilabel-classification": lambda: MultiLabelClassificationTask(
                backbone, num_classes=3, max_seq_len=16, head_hidden_size=8
            ),
            "text-regression": lambda: RegressionTask(backbone, max_seq_len=16, head_hidden_size=8),
            "sequence-labeling": lambda: SequenceLabelingTask(
                backbone, num_classes=3, max_seq_len=16, crf=True, label_names=["O", "B-X", "I-X"]
            ),
            "text-matching": lambda: TextMatchingTask(backbone, max_seq_len=16),
        }[kind]()
    # a finetuned-on dataset that is registered, so parity samples come from its dev split
    provenance = {"dataset": "lfw-faces"} if kind == "image-classification" else None
    return export_folder(task, root / kind, name=f"tiny-{kind}", provenance=provenance)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple[Path, object]]:
    root = tmp_path_factory.mktemp("onnx")
    out = {}
    for kind in [*INPUTS, "image-classification"]:
        folder = build(kind, root / "torch")
        out[kind] = (folder, export_onnx(folder, root / "onnx" / kind))
    return out


def close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return abs(a - b) <= 1e-4 * (1 + abs(a))
    return a == b


@pytest.mark.parametrize("kind", [*INPUTS, "image-classification"])
def test_every_kind_exports_with_parity(exported, kind: str) -> None:
    folder, result = exported[kind]
    assert result.kind == kind and result.parity.max_abs_diff <= 1e-4 and result.parity.agreement == 1.0
    if kind == "image-classification":
        assert result.parity.samples == 20  # the lfw-faces dev split, named in the provenance
        inputs = [ex.image for ex in hub.datasets.load("lfw-faces").test[:5]]
    else:
        inputs = INPUTS[kind]
    onnx_module, torch_module = hub.Module(str(result.folder)), hub.Module(str(folder))
    assert type(onnx_module).__name__ == "OnnxModule" and onnx_module.info.name == f"tiny-{kind}-onnx"
    assert close(onnx_module.predict(inputs), torch_module.predict(inputs))
    spec = onnx_module.info.config["onnx"]
    assert spec["kind"] == kind and spec["quantized"] is None
    if kind == "sequence-labeling":
        assert np.asarray(spec["crf"]["transitions"]).shape == (3, 3)


def test_options_follow_the_kind(exported) -> None:
    image = hub.Module(str(exported["image-classification"][1].folder))
    picture = np.full((30, 30), 128, np.uint8)
    top = image.predict([picture], top_k=1)
    assert close(top, hub.Module(str(exported["image-classification"][0])).classify([picture], top_k=1))
    assert len(top[0]["probabilities"]) == 1
    labels = hub.Module(str(exported["multilabel-classification"][1].folder))
    for r in labels.predict(TEXTS, threshold=0.01):
        assert r["labels"] == [n for n, p in r["probabilities"].items() if p >= 0.01]
    with pytest.raises(ModuleInputError, match="not an option of a text-regression model"):
        hub.Module(str(exported["text-regression"][1].folder)).predict(TEXTS, top_k=2)


def test_the_onnx_module_runs_without_torch(exported) -> None:
    script = (
        "import json, sys, numpy as np, finehub\n"
        "text = finehub.Module(sys.argv[1]).predict(['w1 w2 w3', 'w9'])\n"
        "image = finehub.Module(sys.argv[2]).predict([np.full((30, 30), 128, np.uint8)])\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch was imported'\n"
        "print(json.dumps([text, image]))\n"
    )
    text_dir, image_dir = exported["sequence-labeling"][1].folder, exported["image-classification"][1].folder
    run = subprocess.run(
        [sys.executable, "-c", script, str(text_dir), str(image_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    text, image = json.loads(run.stdout)
    assert close(text, hub.Module(str(exported["sequence-labeling"][0])).predict(["w1 w2 w3", "w9"]))
    assert close(
        image,
        hub.Module(str(exported["image-classification"][0])).predict([np.full((30, 30), 128, np.uint8)]),
    )


def test_export_is_refused_beyond_the_tolerance(exported, tmp_path) -> None:
    folder, result = exported["multilabel-classification"]
    if result.parity.max_abs_diff == 0:
        pytest.skip("PyTorch and onnxruntime agree bit for bit on this machine")
    with pytest.raises(ExportError, match="does not reproduce"):
        export_onnx(folder, tmp_path / "refused", tolerance=result.parity.max_abs_diff / 2)
    assert not (tmp_path / "refused").exists()
    with pytest.raises(ConfigError, match="quantize"):
        export_onnx(folder, tmp_path / "x", quantize="int4")
    with pytest.raises(ConfigError, match="neither a run folder"):
        export_onnx(tmp_path)


def test_int8_quantisation_reports_the_dev_metric(exported, tmp_path) -> None:
    folder, _ = exported["sequence-labeling"]
    rng = np.random.default_rng(0)
    dev = [
        TokenExample(
            tuple(f"w{i}" for i in rng.integers(0, 40, 6)), tuple(int(t) for t in rng.integers(0, 3, 6))
        )
        for _ in range(24)
    ]
    ds = Dataset("toy", {"dev": dev}, ["O", "B-X", "I-X"])
    result = export_onnx(folder, tmp_path / "int8", quantize="int8", dataset=ds)
    q = result.quantization
    assert q.metric == "f1" and q.examples == 24 and q.delta == pytest.approx(q.int8_value - q.float_value)
    assert 0 <= q.agreement <= 1 and q.float_bytes > 0 and q.int8_bytes > 0
    module = hub.Module(str(result.folder))
    assert module.info.config["onnx"]["quantized"] == "int8"
    assert len(module.predict(["w1 w2"])[0]["tags"]) == 2


def test_a_run_folder_exports_its_best_model(exported, tmp_path) -> None:
    run = tmp_path / "run"
    export_folder(
        TextClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=16), run / "best_model", name="run"
    )
    result = export_onnx(run)
    assert result.folder == run / "onnx" and (run / "onnx" / "model.onnx").is_file()


def test_cli_export_onnx(exported, tmp_path) -> None:
    app = typer.Typer()
    register(app)
    folder, _ = exported["text-regression"]
    runner = CliRunner()
    out = runner.invoke(
        app, ["export", "onnx", str(folder), "-o", str(tmp_path / "cli"), "--quantize", "int8", "--json"]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["kind"] == "text-regression" and data["parity"]["agreement"] == 1.0
    assert data["quantization"]["metric"] is None  # no registered dataset to score against
    out = runner.invoke(app, ["export", "onnx", str(folder), "-o", str(tmp_path / "cli2")])
    assert out.exit_code == 0 and "parity on" in out.output and "onnxruntime only" in out.output


@pytest.mark.slow
def test_int8_minilm_classifier_on_real_text(tmp_path) -> None:
    ds = Dataset(
        "news",
        {"dev": [TextExample(ex.text_a, ex.label) for ex in hub.datasets.load("bbc-news").dev[:64]]},
        hub.datasets.load("bbc-news").label_names,
    )
    task = TextClassificationTask(hub.Module("minilm-l6"), num_classes=5, max_seq_len=64)
    folder = export_folder(task, tmp_path / "news", name="news")
    result = export_onnx(folder, tmp_path / "news-onnx", quantize="int8", dataset=ds)
    q = result.quantization
    assert result.parity.max_abs_diff <= 1e-3 and q.metric == "accuracy" and q.examples == 64
    assert q.int8_bytes < 0.4 * q.float_bytes  # int8 weights: about a quarter of the float32 size
