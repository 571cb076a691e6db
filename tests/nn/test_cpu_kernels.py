"""The CPU training kernels: the same dropout and attention maths as torch/transformers, swapped
in and out of a model cleanly."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from finetune.finetune_support import tiny_backbone
from torch import nn

from finehub.nn.cpu_kernels import ATTENTION, BitDropout, bit_dropout, cpu_training_kernels, matmul_attention


@pytest.mark.parametrize("p", [0.1, 0.5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_bit_dropout_drops_at_the_rate_and_keeps_the_mean(p, dtype):
    torch.manual_seed(0)
    x = torch.ones(1 << 20, dtype=dtype)
    out = bit_dropout(x, p)
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - p) < 0.003
    kept = out[out != 0]
    assert torch.all(kept == kept[0])  # one scale for every kept element
    assert abs(out.float().mean().item() - 1.0) < 0.01  # inverted dropout keeps the expectation


def test_bit_dropout_is_seeded_by_torch_and_differentiable():
    x = torch.randn(3, 5, 7, requires_grad=True)
    torch.manual_seed(3)
    a = bit_dropout(x, 0.3)
    torch.manual_seed(3)
    b = bit_dropout(x, 0.3)
    assert torch.equal(a, b)
    assert not torch.equal(a, bit_dropout(x, 0.3))  # the generator moved on
    a.sum().backward()
    scale = 1 / (1 - round(0.3 * 65536) / 65536)
    expected = (a != 0).float() * scale
    torch.testing.assert_close(x.grad, expected)
    assert bit_dropout(x, 0.0) is x
    assert torch.equal(bit_dropout(x, 1.0), torch.zeros_like(x))


def test_bit_dropout_handles_sizes_not_a_multiple_of_four():
    torch.manual_seed(0)
    out = bit_dropout(torch.ones(3, 3), 0.5)
    assert out.shape == (3, 3)


def test_bit_dropout_layer_is_identity_in_eval_mode():
    layer = BitDropout(0.5).eval()
    x = torch.randn(10)
    assert torch.equal(layer(x), x)


def test_matmul_attention_matches_sdpa():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))
    mask = torch.zeros(2, 1, 5, 5)
    mask[0, :, :, 3:] = torch.finfo(torch.float32).min  # the first text has 3 real tokens
    module = nn.Module().eval()
    out, probs = matmul_attention(module, q, k, v, mask, scaling=0.5)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.5).transpose(1, 2)
    torch.testing.assert_close(out, expected)
    assert torch.all(probs[0, :, :, 3:] == 0)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 3, 5))


def _encode(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return model(input_ids=ids, attention_mask=mask).last_hidden_state


def test_kernels_swap_in_and_restore_without_changing_eval_outputs():
    model = tiny_backbone().model.eval()
    ids = torch.randint(5, 45, (4, 9))
    mask = torch.ones(4, 9, dtype=torch.long)
    mask[1, 6:] = 0
    before = _encode(model, ids, mask)
    dropouts = [m for m in model.modules() if type(m) is nn.Dropout]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with cpu_training_kernels(model) as same:
        assert same is model
        assert model.config._attn_implementation == ATTENTION
        assert not any(type(m) is nn.Dropout for m in model.modules())
        assert sum(isinstance(m, BitDropout) for m in model.modules()) == len(dropouts)
        inside = _encode(model, ids, mask)
        model.train()
        _encode(model, ids, mask).sum().backward()  # dropout active, gradients flow
        assert model.embeddings.word_embeddings.weight.grad is not None
    assert model.config._attn_implementation == "sdpa"
    assert [m for m in model.modules() if type(m) is nn.Dropout] == dropouts
    assert all(m.training for m in dropouts)  # the mode set inside carries over
    torch.testing.assert_close(inside, before, atol=1e-5, rtol=1e-5)
    assert set(model.state_dict()) == set(state)  # no parameter or buffer added or renamed


def test_kernels_restore_the_model_when_the_body_raises():
    model = tiny_backbone().model
    with pytest.raises(RuntimeError, match="boom"), cpu_training_kernels(model):
        raise RuntimeError("boom")
    assert model.config._attn_implementation == "sdpa"
    assert not any(isinstance(m, BitDropout) for m in model.modules())


def test_kernels_leave_non_transformers_models_attention_alone():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2))
    with cpu_training_kernels(model):
        assert isinstance(model[1], BitDropout) and model[1].p == 0.2
    assert type(model[1]) is nn.Dropout
