"""bf16 encoder copies with fp32 master weights: what is copied, what is shared, and a bf16 run
that crashes resumes to the same weights as one that did not."""

from __future__ import annotations

import pytest
import torch
from finetune.finetune_support import run_tiny, run_tiny_cached, tiny_backbone
from safetensors.torch import load_file

import finehub.finetune as ft
from finehub.finetune.bf16_shadow import BF16Shadow
from finehub.finetune.callbacks import Callback
from finehub.nn.device import bf16_supported


@pytest.fixture
def bf16_runs(monkeypatch):
    """Runs asking for bf16 get it, natively or, on a CPU without bf16 instructions, emulated by
    torch (slower, same arithmetic), so the encoder copy is exercised on every CPU."""
    if not bf16_supported(torch.device("cpu")):
        monkeypatch.setattr("finehub.finetune.step.bf16_supported", lambda device: True)


def _task() -> ft.TextClassificationTask:
    return ft.TextClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=32, seed=1)


def test_the_encoder_is_copied_in_bf16_and_the_head_is_shared():
    model = _task().model
    shadow = BF16Shadow(model)
    assert BF16Shadow.applies_to(model) and not BF16Shadow.applies_to(torch.nn.Linear(2, 2))
    assert shadow.net.head.weight is model.head.weight  # trained in fp32, in place
    assert shadow.net.encoder is not model.encoder
    assert {p.dtype for p in shadow.net.encoder.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in model.encoder.parameters()} == {torch.float32}
    assert len(shadow.masters) == len(list(model.encoder.parameters()))
    for p, q in zip(shadow.masters, shadow.copies, strict=True):
        assert torch.equal(p.to(torch.bfloat16), q)


def test_gradients_reach_the_masters_and_updates_reach_the_copies():
    model = _task().model
    shadow = BF16Shadow(model)
    ids = torch.randint(5, 45, (4, 7))
    mask = torch.ones(4, 7, dtype=torch.long)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = shadow.net(input_ids=ids, attention_mask=mask)
    out.float().sum().backward()
    emb = model.encoder.embeddings.word_embeddings.weight
    emb.grad = torch.ones_like(emb)  # e.g. a regulariser's gradient, added to, not replaced
    copy_grad = shadow.net.encoder.embeddings.word_embeddings.weight.grad.float()
    shadow.grads_to_masters()
    torch.testing.assert_close(emb.grad, copy_grad + 1)
    assert model.head.weight.grad is not None  # the shared head got its gradient directly
    assert all(q.grad is None for q in shadow.copies)
    with torch.no_grad():
        emb.add_(0.5)
    shadow.weights_from_masters()
    assert torch.equal(shadow.net.encoder.embeddings.word_embeddings.weight, emb.to(torch.bfloat16))

    model.encoder.embeddings.requires_grad_(False)  # gradual unfreezing
    shadow.sync_trainable()
    assert not shadow.net.encoder.embeddings.word_embeddings.weight.requires_grad


def test_frozen_weights_are_not_recast_at_every_step():
    """The optimizer never changes a frozen weight, so its copy stays as made; the trainable ones
    follow their masters."""
    model = _task().model
    model.encoder.embeddings.requires_grad_(False)
    shadow = BF16Shadow(model)
    frozen_copy = shadow.net.encoder.embeddings.word_embeddings.weight
    made = frozen_copy.clone()
    dense = model.encoder.encoder.layer[0].attention.self.query.weight
    with torch.no_grad():
        model.encoder.embeddings.word_embeddings.weight.add_(1.0)  # not an optimizer's doing
        dense.add_(0.25)
    shadow.weights_from_masters()
    assert torch.equal(frozen_copy, made)
    assert torch.equal(
        shadow.net.encoder.encoder.layer[0].attention.self.query.weight, dense.to(torch.bfloat16)
    )


class Crash(Callback):
    def on_step_end(self, state, control):
        if state.step == 8:
            raise RuntimeError("crash after the checkpoint of step 6")


def test_a_crashed_bf16_run_resumes_to_the_same_weights(tmp_path, bf16_runs):
    _, reference = run_tiny(tmp_path / "reference", precision="bf16", max_steps=12)
    with pytest.raises(RuntimeError, match="crash"):
        run_tiny(tmp_path / "crashed", callbacks=(Crash(),), precision="bf16", max_steps=12)
    _, resumed = run_tiny(tmp_path / "crashed", precision="bf16", max_steps=12)
    assert resumed.resumed_from == 6 and resumed.precision == "bf16"
    assert resumed.test_metrics == reference.test_metrics
    a = load_file(reference.best_model_dir / "model.safetensors")
    b = load_file(resumed.best_model_dir / "model.safetensors")
    assert {t.dtype for t in b.values()} == {torch.float32}  # the masters are what is saved
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_bf16_with_and_without_cpu_kernels_learn_alike(tmp_path, bf16_runs):
    _, fast = run_tiny(tmp_path / "fast", precision="bf16")
    _, plain = run_tiny(tmp_path / "plain", precision="bf16", cpu_kernels=False)
    assert fast.best_dev_metrics["accuracy"] > 0.7 and plain.best_dev_metrics["accuracy"] > 0.7
    assert abs(fast.best_dev_metrics["accuracy"] - plain.best_dev_metrics["accuracy"]) <= 0.1


def test_no_copy_is_made_of_an_encoder_whose_outputs_are_cached(tmp_path, bf16_runs, monkeypatch):
    """With cached features the steps run only the head: a bf16 copy of the encoder would be unused."""
    made = []
    init = BF16Shadow.__init__

    def counting_init(self, model):
        made.append(model)
        init(self, model)

    monkeypatch.setattr(BF16Shadow, "__init__", counting_init)
    _, cached = run_tiny_cached(tmp_path / "cached", precision="bf16")
    assert cached.precision == "bf16" and made == []
    run_tiny(tmp_path / "tokens", precision="bf16", max_steps=2)
    assert len(made) == 1  # the same trainer copies an encoder that runs in its steps
