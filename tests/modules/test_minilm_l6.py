"""minilm-l6 and the generic TextEncoder, with the real all-MiniLM-L6-v2 weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from finehub.errors import ConfigError, DataFormatError, ModuleInputError
from finehub.modules.minilm_l6 import MiniLML6
from finehub.modules.text_encoder import TextEncoder
from finehub.nn.backbone import TextBackbone
from finehub.nn.device import bf16_supported
from finehub.nn.pooling import pool_tokens

EATING, BREAD = "A man is eating food.", "A man eats bread."
SENTENCES = [
    EATING,
    "A man is riding a horse.",
    "The new movie is awesome, I loved every minute of it.",
    BREAD,
    "Quantum computers use qubits.",
]


@pytest.fixture(scope="module")
def minilm() -> MiniLML6:
    """fp32, so batching and truncation can be checked to 1e-5 (bf16 rounding depends on padding)."""
    return MiniLML6(device="cpu", precision="fp32")


def test_embeddings_are_384_d_unit_float32(minilm: MiniLML6) -> None:
    emb = minilm.embed([EATING, BREAD])
    assert emb.shape == (2, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert minilm.embed(EATING).shape == (1, 384)  # one string is one text
    raw = minilm.embed([EATING], normalize=False)
    assert not np.isclose(np.linalg.norm(raw), 1.0)
    np.testing.assert_allclose(raw / np.linalg.norm(raw), minilm.embed([EATING]), atol=1e-6)


def test_similarity_of_a_paraphrase(minilm: MiniLML6) -> None:
    score = minilm.similarity(EATING, BREAD)
    assert isinstance(score, float)
    assert 0.6 < score < 0.9  # sentence-transformers reports 0.72 for this pair


def test_paraphrases_rank_above_unrelated_sentences(minilm: MiniLML6) -> None:
    assert minilm.similarity(EATING, BREAD) > minilm.similarity(EATING, "A man is riding a horse.")
    assert minilm.similarity(EATING, "A man is riding a horse.") > minilm.similarity(EATING, SENTENCES[4])
    query = "Which film did you enjoy?"
    matrix = minilm.similarity([query], SENTENCES)
    assert int(np.argmax(matrix[0])) == 2


def test_similarity_matrix(minilm: MiniLML6) -> None:
    matrix = minilm.similarity(SENTENCES, SENTENCES[:2])
    assert isinstance(matrix, list) and len(matrix) == 5 and all(len(row) == 2 for row in matrix)
    assert matrix[0][0] == pytest.approx(1.0, abs=1e-5) and matrix[1][1] == pytest.approx(1.0, abs=1e-5)
    assert matrix[3][0] == pytest.approx(minilm.similarity(BREAD, EATING), abs=1e-5)


def test_length_sorted_batches_come_back_in_input_order(minilm: MiniLML6) -> None:
    texts = [
        "short",
        "a much longer sentence with many more words in it than the others",
        "mid length text",
    ] * 2
    batched = minilm.embed(texts, batch_size=2)
    singles = np.concatenate([minilm.embed([t]) for t in texts])
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_max_seq_len_truncates(minilm: MiniLML6) -> None:
    long = "The committee met on Tuesday to discuss the budget. " + "Then everyone went home to sleep. " * 10
    assert minilm.max_seq_len == 256
    full, cut = minilm.embed(long), minilm.embed(long, max_seq_len=8)
    assert float(full[0] @ cut[0]) < 0.99
    # 8 tokens = [CLS] + six words + [SEP]
    np.testing.assert_allclose(cut, minilm.embed("The committee met on Tuesday to"), atol=1e-5)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (([],), {}),
        ((None,), {}),
        (([EATING, 3],), {}),
        ((b"bytes",), {}),
        (([EATING],), {"max_seq_len": 10_000}),
        (([EATING],), {"max_seq_len": 0}),
        (([EATING],), {"batch_size": 0}),
    ],
)
def test_bad_input_is_a_module_input_error(minilm: MiniLML6, args: tuple, kwargs: dict) -> None:
    with pytest.raises(ModuleInputError):
        minilm.embed(*args, **kwargs)


def test_module_metadata(minilm: MiniLML6) -> None:
    assert minilm.runnable_method() == ("embed", "texts")
    served = minilm.serving_methods()
    assert served["embed"].batch == "texts" and "similarity" in served
    assert (minilm.info.name, minilm.info.version, minilm.info.task) == (
        "minilm-l6",
        "1.0.0",
        "text-embedding",
    )
    assert minilm.pooling == "mean" and minilm.dim == 384


def test_backbone_is_a_trainable_copy(minilm: MiniLML6) -> None:
    bb = minilm.backbone()
    assert isinstance(bb, TextBackbone)
    assert (bb.hidden_size, bb.pooling, bb.max_seq_len) == (384, "mean", 256)
    assert (bb.source_dir / "config.json").is_file()
    assert bb.model.training and all(p.requires_grad for p in bb.model.parameters())

    enc = bb.tokenizer([EATING, BREAD], padding=True, return_tensors="pt")
    bb.model.eval()
    with torch.no_grad():
        pooled = pool_tokens(bb.model(**enc).last_hidden_state, enc["attention_mask"], bb.pooling)
    np.testing.assert_allclose(
        torch.nn.functional.normalize(pooled, dim=-1).numpy(), minilm.embed([EATING, BREAD]), atol=1e-5
    )

    before = minilm.embed(EATING)
    with torch.no_grad():
        bb.model.get_input_embeddings().weight.add_(1.0)
    np.testing.assert_array_equal(minilm.embed(EATING), before)


def test_same_embeddings_as_sentence_transformers(minilm: MiniLML6) -> None:
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(minilm.source_dir), device="cpu").encode(SENTENCES)
    ours = minilm.embed(SENTENCES)
    cosines = np.sum(ours * reference, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosines.min() >= 0.999


def test_auto_precision_embeds_in_bf16_where_the_cpu_has_it(minilm: MiniLML6) -> None:
    fast = MiniLML6(device="cpu")
    assert fast.precision == ("bf16" if bf16_supported(torch.device("cpu")) else "fp32")
    assert MiniLML6(device="cpu", precision="bf16").precision == "bf16"
    with pytest.raises(ConfigError, match="precision"):
        MiniLML6(device="cpu", precision="fp16")


def test_bf16_embeddings_match_fp32(minilm: MiniLML6) -> None:
    bf16 = MiniLML6(device="cpu", precision="bf16")
    ours, reference = bf16.embed(SENTENCES), minilm.embed(SENTENCES)
    assert ours.dtype == np.float32
    assert np.sum(ours * reference, axis=1).min() >= 0.999
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)  # normalised in fp32
    assert bf16.similarity(EATING, BREAD) > bf16.similarity(EATING, SENTENCES[4])
    # fine-tuning starts from the full-precision weights, not the bf16 copy
    for (name, a), b in zip(
        bf16.backbone().model.state_dict().items(), minilm.model.state_dict().values(), strict=True
    ):
        assert a.dtype == b.dtype and torch.equal(a, b), name


# --- the generic TextEncoder on other folders --------------------------------------------------


def _copy_folder(src: Path, dest: Path, *, skip: tuple[str, ...] = ()) -> Path:
    """A copy of a Hugging Face folder with the weights linked, not copied."""
    dest.mkdir()
    for item in src.iterdir():
        if item.name in skip or item.is_dir():
            continue
        if item.suffix == ".safetensors":
            (dest / item.name).symlink_to(item)
        else:
            shutil.copy(item, dest / item.name)
    return dest


def test_text_encoder_reads_pooling_from_the_folder(minilm: MiniLML6, tmp_path: Path) -> None:
    folder = _copy_folder(minilm.source_dir, tmp_path / "cls-model", skip=("sentence_bert_config.json",))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    enc = TextEncoder(directory=folder, device="cpu", precision="fp32")
    assert enc.pooling == "cls" and enc.max_seq_len == 512  # the model's limit
    assert TextEncoder(directory=folder, pooling="mean", device="cpu", precision="fp32").similarity(
        EATING, BREAD
    ) == pytest.approx(minilm.similarity(EATING, BREAD), abs=1e-5)
    assert enc.similarity(EATING, BREAD) != pytest.approx(minilm.similarity(EATING, BREAD), abs=1e-3)


def test_text_encoder_rejects_a_tokenizer_that_does_not_fit_the_model(
    minilm: MiniLML6, tmp_path: Path
) -> None:
    folder = _copy_folder(minilm.source_dir, tmp_path / "broken", skip=("tokenizer.json", "vocab.txt"))
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
    with pytest.raises(DataFormatError, match="tokenizer has 5 tokens"):
        TextEncoder(directory=folder, device="cpu", precision="fp32")


def test_text_encoder_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory"):
        TextEncoder()
    with pytest.raises(DataFormatError):
        TextEncoder(directory=tmp_path, device="cpu")
    with pytest.raises(ConfigError, match="pooling"):
        MiniLML6(pooling="max", device="cpu")
