import pytest
import torch
from torch import nn

from finehub.errors import ConfigError
from finehub.finetune.strategies import (
    L2SP,
    AdamWeightDecay,
    DefaultStrategy,
    LinearWarmupDecay,
    SlantedTriangular,
    ULMFiT,
    layer_groups,
)


class Toy(nn.Module):
    """encoder = embeddings + a 3-layer stack + LayerNorm; head = linear (the Task model shape)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Module()
        self.encoder.embeddings = nn.Embedding(10, 4)
        self.encoder.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
        self.encoder.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = self.encoder.embeddings(x)
        for layer in self.encoder.layers:
            h = layer(h)
        return self.head(self.encoder.norm(h)).sum()


def lrs_over(opt, steps, group=0):
    out = []
    for _ in range(steps):
        out.append(opt.optimizer.param_groups[group]["lr"])
        opt.optimizer.step()
        opt.scheduler.step()
    return out


def test_linear_warmup_decay_by_hand():
    f = LinearWarmupDecay(warmup_steps=2, total_steps=10)
    assert [f(s) for s in range(11)] == pytest.approx(
        [0.5, 1, 1, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8, 0]
    )
    assert LinearWarmupDecay(0, 4)(0) == 1.0


def test_slanted_triangular_by_hand():
    f = SlantedTriangular(total_steps=20, cut_fraction=0.1, ratio=32)  # cut = 2
    assert f(0) == pytest.approx(1 / 32)
    assert f(1) == pytest.approx((1 + 0.5 * 31) / 32)
    assert f(2) == pytest.approx(1.0)
    assert f(11) == pytest.approx((1 + 0.5 * 31) / 32)
    assert f(20) == pytest.approx(1 / 32)


def test_adam_weight_decay_groups_schedule_and_fused_kernels():
    model = Toy()
    opt = AdamWeightDecay(learning_rate=1e-3, warmup_proportion=0.2, weight_decay=0.01).build(
        model, total_steps=10, steps_per_epoch=5
    )
    decay, no_decay = opt.optimizer.param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim < 2 for p in no_decay["params"])
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in no_decay["params"]} >= {
        "encoder.norm.weight",
        "encoder.norm.bias",
        "head.bias",
    }
    assert decay.get("fused") is True
    assert type(opt.optimizer) is torch.optim.AdamW
    assert lrs_over(opt, 10) == pytest.approx(
        [1e-3 * v for v in (0.5, 1, 1, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8)]
    )


def test_decoupled_weight_decay_shrinks_weights_without_gradients_through_loss():
    model = Toy()
    opt = AdamWeightDecay(learning_rate=0.1, warmup_proportion=0.0, weight_decay=0.5).build(
        model, total_steps=1, steps_per_epoch=1
    )
    w = model.head.weight.detach().clone()
    b = model.head.bias.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # Adam's update is 0; only the decoupled decay acts
    opt.optimizer.step()
    assert torch.allclose(model.head.weight, w * (1 - 0.1 * 0.5))
    assert torch.equal(model.head.bias, b)


def test_l2sp_penalty_and_gradient_by_hand():
    model = Toy()
    opt = L2SP(learning_rate=1e-3, coeff=0.1).build(model, total_steps=10, steps_per_epoch=10)
    assert opt.penalty().item() == 0.0
    with torch.no_grad():
        model.encoder.layers[0].weight += 0.5  # 16 elements moved by 0.5
        model.head.weight += 3.0  # the head is not pulled back
    penalty = opt.penalty()
    assert penalty.item() == pytest.approx(0.1 * 16 * 0.25)
    penalty.backward()
    assert torch.allclose(model.encoder.layers[0].weight.grad, torch.full((4, 4), 2 * 0.1 * 0.5))
    assert model.head.weight.grad is None


def test_ulmfit_groups_discriminative_lrs_and_gradual_unfreezing():
    model = Toy()
    groups = layer_groups(model)
    enc = model.encoder
    expected = [
        [model.head.weight, model.head.bias],
        list(enc.layers[2].parameters()),
        list(enc.layers[1].parameters()),
        list(enc.layers[0].parameters()),
        [enc.embeddings.weight, enc.norm.weight, enc.norm.bias],
    ]
    assert [[id(p) for p in g] for g in groups] == [[id(p) for p in g] for g in expected]

    opt = ULMFiT(learning_rate=0.01, dis_factor=2.0, cut_fraction=0.1, ratio=32).build(
        model, total_steps=20, steps_per_epoch=5
    )
    # one decay + one no-decay param group per layer group (the embeddings/LayerNorm group has both)
    lr_of = {id(p): g["initial_lr"] for g in opt.optimizer.param_groups for p in g["params"]}
    for depth, params in enumerate(groups):
        assert [lr_of[id(p)] for p in params] == pytest.approx([0.01 * 2.0**-depth] * len(params))
    assert opt.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 / 32)  # slanted: starts at lr/ratio

    opt.on_epoch_start(0)
    assert [all(p.requires_grad for p in g) for g in groups] == [True, False, False, False, False]
    opt.on_epoch_start(2)
    assert [all(p.requires_grad for p in g) for g in groups] == [True, True, True, False, False]
    frozen_before = model.encoder.embeddings.weight.detach().clone()
    model(torch.tensor([1, 2])).backward()
    opt.optimizer.step()
    assert torch.equal(model.encoder.embeddings.weight, frozen_before)

    model = Toy()
    everything = ULMFiT(learning_rate=0.01, gradual_unfreeze=False).build(
        model, total_steps=20, steps_per_epoch=5
    )
    everything.on_epoch_start(0)
    assert all(p.requires_grad for p in model.parameters())


def test_ulmfit_keeps_what_the_module_froze_frozen():
    """Unfreezing reaches only what was trainable when the strategy was built: layers a module
    froze itself (``frozen_layers``, frozen embeddings) stay frozen in every epoch."""
    model = Toy()
    model.encoder.layers[0].requires_grad_(False)
    model.encoder.embeddings.requires_grad_(False)
    opt = ULMFiT(learning_rate=0.01).build(model, total_steps=20, steps_per_epoch=5)
    opt.on_epoch_start(10)  # every group's turn has come
    assert not any(p.requires_grad for p in model.encoder.layers[0].parameters())
    assert not model.encoder.embeddings.weight.requires_grad
    assert (
        all(p.requires_grad for p in model.encoder.layers[2].parameters())
        and model.encoder.norm.weight.requires_grad
    )


@pytest.mark.parametrize(
    ("name", "cls"), [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("sgd", torch.optim.SGD)]
)
def test_default_strategy_is_constant(name, cls):
    opt = DefaultStrategy(learning_rate=0.02, optimizer=name).build(Toy(), total_steps=5, steps_per_epoch=5)
    assert type(opt.optimizer) is cls
    assert lrs_over(opt, 5) == [0.02] * 5
    assert opt.max_grad_norm is None


def test_optimization_state_round_trip_restores_schedule_position():
    model = Toy()
    strategy = AdamWeightDecay(learning_rate=1.0, warmup_proportion=0.0)
    opt = strategy.build(model, total_steps=10, steps_per_epoch=10)
    lrs_over(opt, 4)
    fresh = strategy.build(model, total_steps=10, steps_per_epoch=10)
    fresh.load_state_dict(opt.state_dict())
    assert fresh.lr == opt.lr == pytest.approx(6 / 10)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: AdamWeightDecay(learning_rate=0), "learning_rate"),
        (lambda: AdamWeightDecay(warmup_proportion=1.0), "warmup_proportion"),
        (lambda: AdamWeightDecay(weight_decay=-1), "weight_decay"),
        (lambda: AdamWeightDecay(max_grad_norm=0), "max_grad_norm"),
        (lambda: L2SP(coeff=-0.1), "coeff"),
        (lambda: ULMFiT(ratio=0.5), "ratio"),
        (lambda: ULMFiT(cut_fraction=1.0), "cut_fraction"),
        (lambda: DefaultStrategy(optimizer="rmsprop"), "optimizer"),
        # wrong types: a ConfigError naming the field, never a TypeError from a comparison
        (lambda: AdamWeightDecay(learning_rate="1e-3"), "learning_rate"),
        (lambda: DefaultStrategy("fast"), "learning_rate"),
        (lambda: AdamWeightDecay(learning_rate=float("nan")), "learning_rate"),
        (lambda: AdamWeightDecay(learning_rate=True), "learning_rate"),
        (lambda: AdamWeightDecay(warmup_proportion=None), "warmup_proportion"),
        (lambda: AdamWeightDecay(embedding_lr_scale="10"), "embedding_lr_scale"),
        (lambda: AdamWeightDecay(head_lr_scale=0), "head_lr_scale"),
        (lambda: L2SP(coeff=[0.1]), "coeff"),
        (lambda: ULMFiT(dis_factor="2.6"), "dis_factor"),
        (lambda: ULMFiT(gradual_unfreeze="no"), "gradual_unfreeze"),
        (lambda: DefaultStrategy(momentum="0.9"), "momentum"),
        (lambda: DefaultStrategy(max_grad_norm="1"), "max_grad_norm"),
        (lambda: DefaultStrategy(optimizer=["adam"]), "optimizer"),
    ],
)
def test_bad_hyper_parameters_name_the_field(make, field):
    with pytest.raises(ConfigError) as info:
        make()
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: must be")


def test_numpy_numbers_and_none_are_accepted_where_documented():
    np = pytest.importorskip("numpy")
    assert AdamWeightDecay(learning_rate=np.float64(1e-3)).learning_rate == 1e-3
    assert AdamWeightDecay(max_grad_norm=None).max_grad_norm is None
    assert ULMFiT(ratio=np.int64(4)).ratio == 4


def test_embedding_lr_scale_gives_the_input_embeddings_their_own_group():
    from finetune.finetune_support import tiny_backbone

    import finehub.finetune as ft

    task = ft.TextClassificationTask(tiny_backbone(), num_classes=2, max_seq_len=16)
    opt = AdamWeightDecay(learning_rate=1e-3, warmup_proportion=0.0, embedding_lr_scale=10).build(
        task.model, total_steps=4, steps_per_epoch=4
    )
    *_, emb_group = opt.optimizer.param_groups
    assert emb_group["params"] == [task.model.encoder.get_input_embeddings().weight]
    assert emb_group["lr"] == pytest.approx(1e-2) and emb_group["weight_decay"] == 0.01
    assert sum(len(g["params"]) for g in opt.optimizer.param_groups) == len(list(task.model.parameters()))
    opt.optimizer.step()
    opt.scheduler.step()
    assert emb_group["lr"] == pytest.approx(1e-2 * 3 / 4)  # the schedule scales every group alike
    plain = AdamWeightDecay(learning_rate=1e-3).build(task.model, total_steps=4, steps_per_epoch=4)
    assert len(plain.optimizer.param_groups) == 2


def test_head_lr_scale_steps_the_head_and_crf_faster_than_the_encoder():
    from finetune.finetune_support import tiny_backbone

    import finehub.finetune as ft

    task = ft.SequenceLabelingTask(tiny_backbone(), num_classes=3, max_seq_len=16, crf=True)
    opt = AdamWeightDecay(learning_rate=1e-3, head_lr_scale=50).build(
        task.model, total_steps=4, steps_per_epoch=4
    )
    encoder = {id(p) for p in task.model.encoder.parameters()}
    by_lr: dict[float, set[int]] = {}
    for group in opt.optimizer.param_groups:
        by_lr.setdefault(round(group["initial_lr"], 9), set()).update(id(p) for p in group["params"])
    assert sorted(by_lr) == [1e-3, 5e-2]
    head = by_lr[5e-2]
    assert head.isdisjoint(encoder) and {id(p) for p in task.model.crf.parameters()} <= head
    assert by_lr[1e-3] == encoder
