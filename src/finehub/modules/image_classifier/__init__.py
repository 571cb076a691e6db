"""The module class a fine-tuned image classifier loads as, from its exported folder.

Folder layout (written by ``finehub.finetune.export``; see :mod:`finehub.modules.finetuned`)::

    module.json          ModuleInfo; ``config`` holds num_classes, label_names, the backbone's
                         ``build`` ("finehub.nn.<module>:<Class>") and ``build_kwargs``,
                         feature_dim, and the preprocessing: resize, image_size, mean, std
    model.safetensors    the ImageClassifierNet state dict (``encoder.*``, ``head.*``)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import InvalidManifestError
from finehub.hub.module import moduleinfo, runnable, serving
from finehub.imaging.images import ImageLike, load_images
from finehub.modules._common import IMAGE_INPUTS, check_batch_size
from finehub.modules.finetuned import WEIGHTS, FinetunedModule, format_predictions, import_named, softmax

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from finehub.nn.backbone import ImageBackbone

BUILD_PREFIX = "finehub.nn."  # backbones are rebuilt only from finehub's own network definitions


def build_backbone(build: str, kwargs: dict[str, Any], *, where: str) -> nn.Module:
    """A fresh backbone from its ``"finehub.nn.<module>:<Class>"`` path."""
    return import_named(build, prefix=BUILD_PREFIX, what="backbone build", where=where)(**kwargs)


def predict_logits(net: nn.Module, transform: Any, images: Sequence[Any], batch_size: int) -> np.ndarray:
    """Logits N×C of PIL images, in batches; the network's train/eval mode is restored afterwards."""
    import numpy as np
    import torch

    check_batch_size(batch_size)
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    out = []
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                out.append(
                    net(transform.batch(images[start : start + batch_size]).to(device)).float().cpu().numpy()
                )
    finally:
        net.train(was_training)
    return np.concatenate(out)


@moduleinfo(
    name="image-classifier",
    version="1.0.0",
    task="image-classification",
    summary="An image classifier fine-tuned with finehub, loaded from its exported folder.",
    inputs=IMAGE_INPUTS,
    outputs={"label": "best label", "score": "its probability", "probabilities": "label -> probability"},
)
class ImageClassifier(FinetunedModule):
    """Generic class of exported image classifiers; each instance takes its metadata from ``module.json``."""

    config_keys = (
        "num_classes",
        "label_names",
        "build",
        "build_kwargs",
        "feature_dim",
        "resize",
        "image_size",
        "mean",
        "std",
    )

    def __init__(self, *, directory: str | Path | None = None, device: str = "cpu", **init_args: Any) -> None:
        super().__init__(directory=directory, **init_args)
        from finehub.hub.store import MANIFEST
        from finehub.hub.weights import load_state_dict
        from finehub.imaging.transforms import eval_transform, rgb_triple
        from finehub.nn.heads import ImageClassifierNet

        cfg = self.config
        backbone = build_backbone(
            cfg["build"], dict(cfg["build_kwargs"]), where=str(self.directory / MANIFEST)
        )
        self.net = ImageClassifierNet(backbone, cfg["feature_dim"], cfg["num_classes"], dropout=0.0)
        try:
            self.net.load_state_dict(load_state_dict(self.directory / WEIGHTS), strict=True)
        except RuntimeError as e:
            raise InvalidManifestError(
                str(self.directory / WEIGHTS), f"weights do not match the network: {e}"
            ) from e
        self.net.eval().to(device)
        self.mean, self.std = rgb_triple(cfg["mean"]), rgb_triple(cfg["std"])
        self.transform = eval_transform(
            resize=cfg["resize"], image_size=cfg["image_size"], mean=self.mean, std=self.std
        )

    @runnable
    @serving(batch="images")
    def classify(
        self, images: ImageLike | Sequence[ImageLike], top_k: int | None = None, batch_size: int = 16
    ) -> list[dict[str, Any]]:
        """Label, score and probabilities for each image (``top_k``: only the k most probable listed)."""
        logits = predict_logits(self.net, self.transform, load_images(images), batch_size)
        return format_predictions(softmax(logits), self.label_names, top_k)

    @classmethod
    def onnx_feeds(cls, runtime: Any, inputs: Sequence[Any]) -> dict[str, np.ndarray]:
        return runtime.image_feeds(load_images(list(inputs)))

    @classmethod
    def onnx_predict(
        cls, runtime: Any, inputs: Sequence[Any], batch_size: int, *, top_k: int | None = None
    ) -> list[dict[str, Any]]:
        import numpy as np

        images = load_images(inputs)
        rows = runtime.batched(images, batch_size, lambda b: runtime.raw_outputs(runtime.image_feeds(b)))
        return format_predictions(softmax(np.stack(rows)), runtime.spec["label_names"], top_k)

    def backbone(self) -> ImageBackbone:
        """The fine-tuned backbone, so an exported classifier can be fine-tuned further."""
        from finehub.nn.backbone import ImageBackbone

        cfg = self.config
        return ImageBackbone(
            model=self.net.encoder,
            feature_dim=cfg["feature_dim"],
            image_size=cfg["image_size"],
            resize=cfg["resize"],
            mean=self.mean,
            std=self.std,
            arch=cfg.get("arch", ""),
            extra={"build": cfg["build"], "build_kwargs": dict(cfg["build_kwargs"])},
        )
