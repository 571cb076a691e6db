import copy

import torch
from finetune.finetune_support import tiny_backbone

from finehub.finetune.vocab import extend_vocab, is_cjk, missing_cjk_chars

TEXTS = ["好好看，好 w1", "坏了 坏", "差 w2", "字字字字"]


def test_is_cjk():
    assert is_cjk("好") and is_cjk("㐀") and not is_cjk("a") and not is_cjk("，") and not is_cjk("ア")


def test_missing_characters_by_count_then_code_point(tmp_path):
    tok = tiny_backbone(tmp=tmp_path).tokenizer
    assert missing_cjk_chars(tok, TEXTS, min_count=2) == [
        "字",
        "好",
        "坏",
    ]  # 4, 3, 2 occurrences; 了 差 看 once
    assert missing_cjk_chars(tok, TEXTS, min_count=1) == ["字", "好", "坏", "了", "差", "看"]


def test_extend_vocab_adds_tokens_and_seeded_embedding_rows(tmp_path):
    backbone = tiny_backbone(tmp=tmp_path)
    tok, model = backbone.tokenizer, backbone.model
    old = model.get_input_embeddings().weight.detach().clone()
    assert tok("好")["input_ids"][1] == tok.unk_token_id

    added = extend_vocab(tok, model, TEXTS, min_count=2, seed=5)
    assert added == ["字", "好", "坏"]
    assert len(tok) == old.shape[0] + 3
    weight = model.get_input_embeddings().weight
    assert weight.shape == (old.shape[0] + 3, old.shape[1]) and model.config.vocab_size == len(tok)
    assert torch.equal(weight[: old.shape[0]], old)
    noise = torch.randn(3, old.shape[1], generator=torch.Generator().manual_seed(5))
    assert torch.allclose(weight[old.shape[0] :], old.mean(0) + old.std(0) * noise)
    ids = tok("好坏 w1 差")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["[CLS]", "好", "坏", "w1", "[UNK]", "[SEP]"]


def test_extending_twice_adds_nothing_new(tmp_path):
    backbone = tiny_backbone(tmp=tmp_path)
    tok = copy.deepcopy(backbone.tokenizer)
    extend_vocab(tok, backbone.model, TEXTS, min_count=2)
    assert extend_vocab(tok, backbone.model, TEXTS, min_count=2) == []
