"""Strategies: the optimizer, learning-rate schedule and regularisation of a fine-tuning run.

A strategy is an immutable set of hyper-parameters. Once per run, after the task model holds its
pretrained weights and sits on its device, and before a checkpoint is loaded, the Trainer calls
``strategy.build(model, total_steps=..., steps_per_epoch=...)``. The returned :class:`Optimization`
holds every piece of per-run state (optimizer, scheduler, the L2-SP anchor), so one strategy can
serve many runs, and a resumed run rebuilds the same objects before loading their saved state.

Per training step the Trainer adds ``penalty()`` (when not None) to the loss, back-propagates,
clips gradients to a global norm of ``max_grad_norm``, then steps the optimizer and the scheduler.
``on_epoch_start(epoch)`` runs before the first step of every epoch, a resumed one included.

The model must expose ``encoder`` (the pretrained network) and ``head`` (layers added for the
task); parameter groups and the L2-SP anchor follow that split. Biases and normalisation weights
(tensors with fewer than two dimensions) never get weight decay.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any, Literal

from finehub.finetune.validation import check_bool, check_choice, check_number

if TYPE_CHECKING:
    import torch
    from torch import nn


# --- schedules: multipliers of each group's base LR, by optimizer step (0-based) -----------------


@dataclass(frozen=True)
class ConstantSchedule:
    def __call__(self, step: int) -> float:
        return 1.0


@dataclass(frozen=True)
class LinearWarmupDecay:
    """Rises linearly to 1 over ``warmup_steps`` (first step at 1/warmup), then falls linearly so
    that step ``total_steps`` would be 0; the last real step still learns (1/(total - warmup))."""

    warmup_steps: int
    total_steps: int

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps))


@dataclass(frozen=True)
class SlantedTriangular:
    """ULMFiT's schedule (Howard & Ruder 2018, eq. 3): short linear rise over ``cut_fraction`` of
    the steps, long linear decay; ``ratio`` is how much smaller the lowest LR is than the peak."""

    total_steps: int
    cut_fraction: float
    ratio: float

    def __call__(self, step: int) -> float:
        cut = max(1, int(self.total_steps * self.cut_fraction))
        p = step / cut if step < cut else max(0.0, 1 - (step - cut) / max(1, self.total_steps - cut))
        return (1 + p * (self.ratio - 1)) / self.ratio


# --- what build() returns ---------------------------------------------------------------------


@dataclass
class Optimization:
    """The per-run optimisation state a strategy builds; checkpoints save its ``state_dict()``."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    max_grad_norm: float | None = None
    penalty: Callable[[], torch.Tensor] | None = None
    on_epoch_start: Callable[[int], None] = lambda epoch: None

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    @property
    def lr(self) -> float:
        """The LR of the first (top-most) parameter group."""
        return self.optimizer.param_groups[0]["lr"]


# --- helpers ------------------------------------------------------------------------------------


def layer_groups(model: nn.Module) -> list[list[nn.Parameter]]:
    """Parameters from the top down: the head (everything outside ``encoder``), then each layer of
    the encoder's layer stack from last to first, then the rest of the encoder (embeddings...)."""
    from torch import nn

    encoder = model.encoder
    head = _head(model)
    stacks = [m for m in encoder.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    stack = max(stacks, key=lambda m: sum(p.numel() for p in m.parameters()), default=None)
    layers = [list(layer.parameters()) for layer in reversed(stack)] if stack is not None else []
    in_stack = {id(p) for group in layers for p in group}
    rest = [p for p in encoder.parameters() if id(p) not in in_stack]
    return [g for g in (head, *layers, rest) if g]


def _head(model: nn.Module) -> list[nn.Parameter]:
    """Everything the task added around the encoder."""
    encoder_ids = {id(p) for p in model.encoder.parameters()}
    return [p for p in model.parameters() if id(p) not in encoder_ids]


def _decay_split(params: Iterable[nn.Parameter], lr: float, weight_decay: float) -> list[dict[str, Any]]:
    params = list(params)
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "lr": lr, "weight_decay": weight_decay}]
    groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})
    return [g for g in groups if g["params"]]


def _fast_kernels(model: nn.Module) -> dict[str, bool]:
    """Fused Adam kernels where torch has them (CPU and CUDA), multi-tensor ``foreach`` elsewhere."""
    device = next(model.parameters()).device
    return {"fused": True} if device.type in ("cpu", "cuda") else {"foreach": True}


def _scheduler(optimizer: torch.optim.Optimizer, schedule: Callable[[int], float]):
    import torch

    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


# --- strategies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Strategy(ABC):
    """Base class: hyper-parameters plus ``build``. Subclasses validate in ``__post_init__``, with
    :mod:`finehub.finetune.validation`, so a wrong type or value is a ConfigError naming the field."""

    learning_rate: float = 1e-4
    _: KW_ONLY
    max_grad_norm: float | None = 1.0

    def __post_init__(self) -> None:
        check_number("learning_rate", self.learning_rate, gt=0)
        check_number("max_grad_norm", self.max_grad_norm, gt=0, none="no clipping")

    @abstractmethod
    def build(self, model: nn.Module, *, total_steps: int, steps_per_epoch: int) -> Optimization:
        """Optimizer, scheduler and regulariser for ``model`` over ``total_steps`` optimizer steps."""


@dataclass(frozen=True)
class AdamWeightDecay(Strategy):
    """AdamW with decoupled weight decay, linear warmup then linear decay to 0 (BERT's recipe).

    ``embedding_lr_scale`` multiplies the learning rate of the encoder's input embeddings: tokens
    added with ``extend_vocab_from`` start untrained, and a larger step lets them catch up in one
    short run (10 took MiniLM from 78.9% to 81.6% test accuracy on chinese-reviews in one epoch).
    ``head_lr_scale`` does the same for everything outside the encoder (the new head, a CRF's
    transitions): they start from nothing, and at the encoder's small rate a CRF barely moves.
    """

    learning_rate: float = 5e-5
    _: KW_ONLY
    warmup_proportion: float = 0.1
    weight_decay: float = 0.01
    embedding_lr_scale: float = 1.0
    head_lr_scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("warmup_proportion", self.warmup_proportion, ge=0, lt=1)
        check_number("weight_decay", self.weight_decay, ge=0)
        check_number("embedding_lr_scale", self.embedding_lr_scale, gt=0)
        check_number("head_lr_scale", self.head_lr_scale, gt=0)

    def build(self, model: nn.Module, *, total_steps: int, steps_per_epoch: int) -> Optimization:
        import torch

        lr, wd = self.learning_rate, self.weight_decay
        get_embeddings = getattr(model.encoder, "get_input_embeddings", None)
        embeddings = (
            get_embeddings().weight if self.embedding_lr_scale != 1 and callable(get_embeddings) else None
        )
        head = _head(model) if self.head_lr_scale != 1 else []
        head_ids = {id(p) for p in head}
        groups = _decay_split(
            (p for p in model.parameters() if p is not embeddings and id(p) not in head_ids), lr, wd
        )
        if head:
            groups += _decay_split(head, lr * self.head_lr_scale, wd)
        if embeddings is not None:
            groups.append({"params": [embeddings], "lr": lr * self.embedding_lr_scale, "weight_decay": wd})
        optimizer = torch.optim.AdamW(groups, lr=self.learning_rate, **_fast_kernels(model))
        warmup = int(total_steps * self.warmup_proportion)
        return Optimization(
            optimizer, _scheduler(optimizer, LinearWarmupDecay(warmup, total_steps)), self.max_grad_norm
        )


@dataclass(frozen=True)
class L2SP(Strategy):
    """Adam with the L2-SP penalty ``coeff * ||θ - θ0||²`` pulling the encoder towards its
    pretrained weights θ0 (Li et al. 2018); linear warmup then linear decay, like AdamWeightDecay."""

    learning_rate: float = 1e-4
    _: KW_ONLY
    coeff: float = 1e-3
    warmup_proportion: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("coeff", self.coeff, ge=0)
        check_number("warmup_proportion", self.warmup_proportion, ge=0, lt=1)

    def build(self, model: nn.Module, *, total_steps: int, steps_per_epoch: int) -> Optimization:
        import torch

        params = [p for p in model.encoder.parameters()]
        anchor = [p.detach().clone() for p in params]
        coeff = self.coeff

        def penalty() -> torch.Tensor:
            diffs = torch._foreach_sub(params, anchor)
            return coeff * torch.stack(torch._foreach_norm(diffs)).pow(2).sum()

        optimizer = torch.optim.Adam(model.parameters(), lr=self.learning_rate, **_fast_kernels(model))
        warmup = int(total_steps * self.warmup_proportion)
        schedule = LinearWarmupDecay(warmup, total_steps)
        return Optimization(optimizer, _scheduler(optimizer, schedule), self.max_grad_norm, penalty)


@dataclass(frozen=True)
class ULMFiT(Strategy):
    """Howard & Ruder's recipe: slanted triangular LR; discriminative LRs (group g from the top
    trains at ``learning_rate * dis_factor**-g``); gradual unfreezing (epoch e trains the top e+1
    groups). Groups: the head, each encoder layer, then the embeddings."""

    learning_rate: float = 5e-5
    _: KW_ONLY
    cut_fraction: float = 0.1
    ratio: float = 32.0
    dis_factor: float = 2.6
    gradual_unfreeze: bool = True
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("cut_fraction", self.cut_fraction, gt=0, lt=1)
        check_number("ratio", self.ratio, ge=1)
        check_number("dis_factor", self.dis_factor, ge=1)
        check_bool("gradual_unfreeze", self.gradual_unfreeze)
        check_number("weight_decay", self.weight_decay, ge=0)

    def build(self, model: nn.Module, *, total_steps: int, steps_per_epoch: int) -> Optimization:
        import torch

        groups = layer_groups(model)
        param_groups = [
            g
            for depth, params in enumerate(groups)
            for g in _decay_split(params, self.learning_rate * self.dis_factor**-depth, self.weight_decay)
        ]
        optimizer = torch.optim.AdamW(param_groups, lr=self.learning_rate, **_fast_kernels(model))
        schedule = SlantedTriangular(total_steps, self.cut_fraction, self.ratio)

        # what the module froze itself (frozen_layers, frozen embeddings) stays frozen
        trainable = [[p for p in params if p.requires_grad] for params in groups]

        def unfreeze(epoch: int) -> None:
            for depth, params in enumerate(trainable):
                for p in params:
                    p.requires_grad_(not self.gradual_unfreeze or depth <= epoch)

        return Optimization(
            optimizer, _scheduler(optimizer, schedule), self.max_grad_norm, on_epoch_start=unfreeze
        )


@dataclass(frozen=True)
class DefaultStrategy(Strategy):
    """A constant learning rate with Adam, AdamW (decoupled decay) or SGD with momentum."""

    learning_rate: float = 1e-4
    _: KW_ONLY
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    max_grad_norm: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("optimizer", self.optimizer, ("adam", "adamw", "sgd"))
        check_number("weight_decay", self.weight_decay, ge=0)
        check_number("momentum", self.momentum, ge=0, lt=1)

    def build(self, model: nn.Module, *, total_steps: int, steps_per_epoch: int) -> Optimization:
        import torch

        lr, wd = self.learning_rate, self.weight_decay
        if self.optimizer == "sgd":
            optimizer = torch.optim.SGD(
                _decay_split(model.parameters(), lr, wd), lr=lr, momentum=self.momentum, foreach=True
            )
        else:
            cls = torch.optim.AdamW if self.optimizer == "adamw" else torch.optim.Adam
            optimizer = cls(_decay_split(model.parameters(), lr, wd), lr=lr, **_fast_kernels(model))
        return Optimization(optimizer, _scheduler(optimizer, ConstantSchedule()), self.max_grad_norm)


# PaddleHub's names resolve to the same classes (YAML `strategy.type` accepts either).
STRATEGIES: dict[str, type[Strategy]] = {
    "AdamWeightDecay": AdamWeightDecay,
    "AdamWeightDecayStrategy": AdamWeightDecay,
    "L2SP": L2SP,
    "L2SPFinetuneStrategy": L2SP,
    "ULMFiT": ULMFiT,
    "ULMFiTStrategy": ULMFiT,
    "DefaultStrategy": DefaultStrategy,
    "DefaultFinetuneStrategy": DefaultStrategy,
}
