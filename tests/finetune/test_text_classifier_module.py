"""The exported folder format and the module class that loads it, without training."""

import json

import pytest
from finetune.finetune_support import tiny_backbone

import finehub.finetune as ft
from finehub.errors import IntegrityError, InvalidManifestError, ModuleInputError
from finehub.finetune.export import export_folder
from finehub.modules.text_classifier import TextClassifier

TEXTS = ["w1 w2 w3", ["w4 w5", "w6"], "w7 好"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    task = ft.TextClassificationTask(
        tiny_backbone(),
        num_classes=3,
        max_seq_len=16,
        label_names=["a", "b", "c"],
        extend_vocab_from=["好好 w1"],
    )
    folder = export_folder(task, tmp_path_factory.mktemp("out") / "m", name="tiny-clf", version="0.3.0")
    return task, folder


def test_folder_pins_every_file_and_describes_the_network(exported):
    _, folder = exported
    info = json.loads((folder / "module.json").read_text())
    files = sorted(p.name for p in folder.iterdir() if p.name != "module.json")
    assert sorted(a["path"] for a in info["assets"]) == files
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(files)
    assert info["entry"] == "finehub.modules.text_classifier:TextClassifier"
    assert info["config"]["label_names"] == ["a", "b", "c"] and info["config"]["added_tokens"] == 1
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_module_predicts_exactly_like_the_task_texts_and_pairs(exported):
    task, folder = exported
    module = TextClassifier(directory=folder)
    assert module.info.name == "tiny-clf" and module.label_names == ["a", "b", "c"]
    assert len(module.tokenizer) == len(task.tokenizer)  # the added character travels with the export
    got, expected = module.classify(TEXTS), task.predict(TEXTS)
    for g, e in zip(got, expected, strict=True):
        assert g["label"] == e["label"]
        assert g["probabilities"] == pytest.approx(e["probabilities"], abs=1e-6)
    assert module.predict(TEXTS) == got
    assert module.backbone().model is module.net.encoder


def test_loader_verifies_the_export(exported, tmp_path):
    import shutil

    from finehub.hub.loader import Module

    _, folder = exported
    copy = shutil.copytree(folder, tmp_path / "copy")
    assert Module(str(copy)).classify(["w1"])[0]["label"] in {"a", "b", "c"}
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(data))
    (copy / ".verified.json").unlink(missing_ok=True)
    with pytest.raises(IntegrityError):
        Module(str(copy))


@pytest.mark.parametrize(
    ("texts", "field"),
    [([], "texts"), (["ok", 3], "texts[1]"), (["ok", "  "], "texts[1]"), ([["a", "b", "c"]], "texts[0]")],
)
def test_bad_inputs_name_the_item(exported, texts, field):
    module = TextClassifier(directory=exported[1])
    with pytest.raises(ModuleInputError) as info:
        module.classify(texts)
    assert info.value.field == field


def test_bad_top_k_and_incomplete_metadata(exported, tmp_path):
    import shutil

    module = TextClassifier(directory=exported[1])
    with pytest.raises(ModuleInputError, match="top_k"):
        module.classify(["w1"], top_k=0)
    broken = shutil.copytree(exported[1], tmp_path / "broken")
    info = json.loads((broken / "module.json").read_text())
    del info["config"]["label_names"]
    (broken / "module.json").write_text(json.dumps(info))
    with pytest.raises(InvalidManifestError, match="label_names"):
        TextClassifier(directory=broken)
    with pytest.raises(InvalidManifestError, match="directory"):
        TextClassifier()
