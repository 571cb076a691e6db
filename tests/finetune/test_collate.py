import numpy as np
import pytest
from finetune.finetune_support import tiny_backbone

from finehub.finetune.collate import EncodedSplit, LengthBucketSampler, collate, encode_texts, text_digest


def split_of(seqs, types=None, labels=None):
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])])
    flat = lambda xs: np.array([t for s in xs for t in s], dtype=np.int64)  # noqa: E731
    return EncodedSplit(flat(seqs), offsets, flat(types) if types else None, labels)


def test_collate_pads_each_batch_to_its_longest_sequence_rounded_to_8():
    split = split_of([[2, 5, 3], [2, 6, 7, 8, 9, 3], [2, 3]], labels=np.array([0, 1, 1]))
    batch = collate(split, [2, 0], pad_id=0)
    assert batch["input_ids"].tolist() == [[2, 3, 0, 0, 0, 0, 0, 0], [2, 5, 3, 0, 0, 0, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0, 0]]
    assert batch["labels"].tolist() == [1, 0]
    assert "token_type_ids" not in batch
    wide = collate(split, [1, 2], pad_id=-1)
    assert wide["input_ids"].shape == (2, 8) and wide["input_ids"][1, 2].item() == -1


def test_collate_keeps_segment_ids_of_pairs():
    split = split_of([[2, 5, 3, 6, 3], [2, 7, 3, 8, 9, 3]], types=[[0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1]])
    batch = collate(split, [0, 1], pad_id=0)
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1, 0, 0]]


def test_encode_texts_truncates_and_marks_pairs(tmp_path):
    tok = tiny_backbone(tmp=tmp_path).tokenizer
    split = encode_texts(tok, ["w1 w2", "w3 " * 50], 8, labels=np.array([0, 1]))
    assert len(split) == 2 and split.lengths.tolist() == [4, 8]
    assert split.ids[:4].tolist() == [
        tok.cls_token_id,
        tok.convert_tokens_to_ids("w1"),
        tok.convert_tokens_to_ids("w2"),
        tok.sep_token_id,
    ]
    assert split.type_ids is None
    pairs = encode_texts(tok, ["w1", "w2"], 8, texts_b=["w3 w4", None])
    assert pairs.type_ids is not None and pairs.type_ids[: pairs.offsets[1]].tolist() == [0, 0, 0, 1, 1, 1]


def test_text_digest_depends_on_content_and_settings():
    assert text_digest(["a", "b"], 128) == text_digest(["a", "b"], 128)
    assert text_digest(["a", "b"], 128) != text_digest(["a", "b"], 64)
    assert text_digest(["ab"], 1) != text_digest(["a", "b"], 1)


@pytest.fixture
def lengths():
    return np.random.default_rng(0).integers(1, 200, size=1003)


def test_sampler_epochs_cover_every_example_once_in_a_seeded_order(lengths):
    sampler = LengthBucketSampler(lengths, 32, seed=7)
    assert len(sampler) == 32  # ceil(1003 / 32)
    e0, e1 = sampler.epoch_batches(0), sampler.epoch_batches(1)
    for batches in (e0, e1):
        assert len(batches) == len(sampler)
        assert sorted(np.concatenate(batches).tolist()) == list(range(1003))
    assert [b.tolist() for b in e0] == [
        b.tolist() for b in LengthBucketSampler(lengths, 32, seed=7).epoch_batches(0)
    ]
    assert [b.tolist() for b in e0] != [b.tolist() for b in e1]
    assert [b.tolist() for b in e0] != [
        b.tolist() for b in LengthBucketSampler(lengths, 32, seed=8).epoch_batches(0)
    ]


def test_sampler_groups_similar_lengths(lengths):
    batches = LengthBucketSampler(lengths, 32, seed=0).epoch_batches(0)
    padded = sum(len(b) * lengths[b].max() for b in batches)
    rng = np.random.default_rng(1)
    perm = rng.permutation(len(lengths))
    random_padded = sum(len(b) * lengths[b].max() for b in np.array_split(perm, len(batches)))
    assert padded < 0.7 * random_padded


def test_sampler_resumes_at_an_exact_position(lengths):
    sampler = LengthBucketSampler(lengths, 32, seed=3)
    full = [b.tolist() for b in sampler.epoch_batches(2)]
    assert [b.tolist() for b in sampler.iter_from(2, 11)] == full[11:]
    assert list(sampler.iter_from(2, len(sampler))) == []


def test_evaluation_order_runs_longest_first_without_shuffling(lengths):
    batches = LengthBucketSampler(lengths, 100, shuffle=False).epoch_batches(5)
    maxima = [lengths[b].max() for b in batches]
    assert maxima == sorted(maxima, reverse=True)
