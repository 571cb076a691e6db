"""SequenceLabelingTask: sub-word alignment (WordPiece, and SentencePiece's bare word-start pieces),
honest scoring of truncated tokens, CRF and softmax heads on a tiny BERT, and real NER on
peoples-daily-ner that must beat tagging everything O."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from finetune.finetune_support import tiny_backbone, tiny_encoder
from finetune.tasks_support import finetune, minilm, toy_sentence, toy_splits

import finehub as hub
import finehub.data.builtin.peoples_daily_ner  # noqa: F401  (registers peoples-daily-ner)
from finehub.data.dataset import Dataset
from finehub.data.examples_extra import TokenExample
from finehub.errors import ConfigError
from finehub.finetune.export import export_folder
from finehub.finetune.onnx_export import export_onnx
from finehub.finetune.tasks.sequence_labeling import SequenceLabelingTask, SequenceLabelTask
from finehub.modules.text_tasks import tagging_batches

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_first_sub_token_carries_the_tag() -> None:
    task = SequenceLabelingTask(minilm(), num_classes=5, max_seq_len=32, label_names=TAGS)
    # [CLS] sebastian vet ##tel un ##bel ##ie ##va ##bly won in abu dhabi [SEP]
    example = TokenExample(
        ("Sebastian", "Vettel", "unbelievably", "won", "in", "Abu", "Dhabi"), (1, 2, 0, 0, 0, 3, 4)
    )
    split = task.encode([example], split="train")
    batch = task.collate(split, np.array([0]))
    labels = batch["labels"][0].tolist()
    assert labels[:14] == [-100, 1, 2, -100, 0, -100, -100, -100, -100, 0, 0, 3, 4, -100]
    assert set(labels[14:]) == {-100} and len(labels) == task.width == 32
    outputs = task.model(**{k: v for k, v in batch.items() if k != "labels"})
    assert outputs.shape == (1, task.width, 5)  # padded so that batches concatenate


@pytest.fixture(scope="module")
def e5_tokenizer():
    return hub.Module("multilingual-e5-small").tokenizer


def tiny_xlmr(tokenizer):
    """A 1-layer, 32-wide XLM-R with random weights and multilingual E5's tokenizer."""
    from transformers import XLMRobertaConfig

    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        num_hidden_layers=1,
        max_position_embeddings=72,
        pad_token_id=tokenizer.pad_token_id,
    )
    return tiny_encoder(config, tokenizer)


def test_sentencepiece_tags_sit_on_the_characters(e5_tokenizer) -> None:
    task = SequenceLabelingTask(tiny_xlmr(e5_tokenizer), num_classes=5, max_seq_len=32, label_names=TAGS)
    assert task.bare_marker == e5_tokenizer.convert_tokens_to_ids("▁")
    assert SequenceLabelingTask(tiny_backbone(), 5, 16, label_names=TAGS).bare_marker is None
    # unaligned, each character would be a bare "▁" (carrying the tag) followed by the character
    example = TokenExample((*"江西百花洲", "Abu", "1998年"), (3, 4, 4, 4, 4, 0, 0))
    split = task.encode([example], split="train")
    ids = split.ids[split.offsets[0] : split.offsets[1]].tolist()
    pieces = e5_tokenizer.convert_ids_to_tokens(ids)
    assert pieces == ["<s>", "江", "西", "百", "花", "洲", "▁Abu", "▁1998", "年", "</s>"]
    labels = task.collate(split, np.array([0]))["labels"][0].tolist()
    assert labels[:10] == [-100, 3, 4, 4, 4, 4, 0, 0, -100, -100]
    # prediction tokenises the same way
    batches, word_ids = tagging_batches(
        e5_tokenizer, [example.tokens], max_seq_len=32, batch_size=8, marker=task.bare_marker
    )
    assert batches[0][1]["input_ids"][0].tolist() == ids
    assert word_ids[0] == [None, 0, 1, 2, 3, 4, 5, 6, 6, None]


@pytest.mark.slow
def test_sentencepiece_tagger_onnx_matches_pytorch(tmp_path, e5_tokenizer) -> None:
    task = SequenceLabelingTask(
        tiny_xlmr(e5_tokenizer), num_classes=5, max_seq_len=32, crf=True, label_names=TAGS, char_level=True
    )
    folder = export_folder(task, tmp_path / "torch", name="tiny-xlmr-tagger")
    result = export_onnx(folder, tmp_path / "onnx")
    assert result.parity.max_abs_diff <= 1e-4 and result.parity.agreement == 1.0
    onnx_module = hub.Module(str(result.folder))
    assert onnx_module.info.config["onnx"]["bare_marker"] == task.bare_marker
    texts = ["新华社北京一月一日电", ["江", "西", "Abu", "1998年"]]
    feeds = onnx_module.feeds(texts)
    assert task.bare_marker not in feeds["input_ids"][feeds["attention_mask"] == 1]
    assert onnx_module.predict(texts) == hub.Module(str(folder)).tag(texts) == task.predict(texts)


def test_truncated_tokens_count_as_missed() -> None:
    task = SequenceLabelingTask(tiny_backbone(), num_classes=5, max_seq_len=4, label_names=TAGS)
    # room for [CLS] + 2 tokens + [SEP]: the place name at the end is cut off
    example = TokenExample(("w1", "w2", "w3", "w4"), (1, 2, 0, 3))
    split = task.encode([example], split="test")
    assert split.labels[0][:, 1].tolist() == [1, 2, -1, -1]
    perfect = torch.full((1, task.width, 5), -10.0)
    perfect[0, 1, 1] = perfect[0, 2, 2] = 10.0  # B-PER I-PER right where the tokens are
    metrics = task.compute_metrics(perfect, split.labels)
    assert metrics["precision"] == 1.0 and metrics["recall"] == 0.5  # the cut-off LOC is a miss


def toy_tagging() -> Dataset:
    def example(rng):
        words = toy_sentence(rng)
        return TokenExample(tuple(words), tuple(1 if int(w[1:]) < 8 else 0 for w in words))

    return Dataset("toy-tags", toy_splits(example), ["O", "B-X"])


@pytest.mark.parametrize("crf", [False, True])
def test_mechanics_on_a_tiny_model(tmp_path, crf: bool) -> None:
    assert SequenceLabelTask is SequenceLabelingTask
    ds = toy_tagging()
    task = SequenceLabelingTask(tiny_backbone(), num_classes=2, max_seq_len=32, crf=crf)
    trainer, result = finetune(task, ds, tmp_path / "run", epochs=3, batch_size=8, lr=1e-2, num_threads=1)
    assert {"f1", "precision", "recall", "per_type"} <= set(result.test_metrics)
    assert task.label_names == ["O", "B-X"] and task.char_level is False
    folder = trainer.export("toy-tagger", output_dir=tmp_path / "export", install_module=False)
    module = hub.Module(str(folder))
    texts = ["w1 w20 w3 w30", ["w5", "w39"]]
    predicted = module.tag(texts)
    assert predicted == task.predict(texts)
    assert predicted[0]["tokens"] == ["w1", "w20", "w3", "w30"] and len(predicted[0]["tags"]) == 4
    assert (module.net.crf is not None) is crf and module.info.config["crf"] is crf


def test_checks_tags() -> None:
    task = SequenceLabelingTask(tiny_backbone(), num_classes=2, max_seq_len=16)
    with pytest.raises(ConfigError, match="one tag per token"):
        task.encode([TokenExample(("w1", "w2"), (0,))], split="train")
    with pytest.raises(ConfigError, match="TokenExample"):
        task.bind(Dataset("plain", {"train": [hub.datasets.TextExample("w1", 0)]}, ["O", "B-X"]))


@pytest.mark.slow
def test_peoples_daily_ner_beats_all_outside(tmp_path) -> None:
    ds = hub.datasets.load("peoples-daily-ner").subset({"train": 1024, "dev": 32, "test": 128})
    task = SequenceLabelingTask(
        minilm(), num_classes=ds.num_classes, max_seq_len=32, crf=True, extend_vocab_from=ds.train
    )
    trainer, result = finetune(task, ds, tmp_path / "run", epochs=2, lr=5e-4)
    # 128 steps only, most characters new to the English encoder: far from a converged model,
    # but tagging everything O (the trivial baseline) scores exactly 0
    assert result.test_metrics["f1"] >= 0.1
    assert task.char_level is True
    folder = trainer.export("pd-ner", output_dir=tmp_path / "export", install_module=False)
    text = ["新华社北京一月一日电，江泽民在人民大会堂发表新年讲话。"]
    assert hub.Module(str(folder)).tag(text) == task.predict(text)
