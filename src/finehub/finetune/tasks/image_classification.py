"""Image classification on a pretrained image backbone (EfficientNet-Lite0, MobileNetV2, ...).

Training batches go through random augmentation (:mod:`finehub.data.augment`), evaluation and
prediction through the backbone's resize / centre-crop / normalise pipeline. Examples are
:class:`~finehub.data.examples_extra.ImageExample`; images are decoded per batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.finetune.kinds import image_onnx, task_kind
from finehub.finetune.metrics import CLASSIFICATION_METRICS
from finehub.finetune.tasks._image_base import ImageSplit, ImageTask, image_options
from finehub.finetune.tasks.base import SingleLabelClassification, as_backbone, bind_examples
from finehub.finetune.validation import check_number

if TYPE_CHECKING:
    import numpy as np
    import torch

    from finehub.data.augment import Augmentation
    from finehub.data.dataset import Dataset
    from finehub.data.examples_extra import ImageExample
    from finehub.nn.backbone import ImageBackbone


def as_image_backbone(module_or_backbone: Any) -> ImageBackbone:
    """An ImageBackbone, given one or a module that provides one through ``backbone()``."""
    from finehub.nn.backbone import ImageBackbone

    return as_backbone(
        module_or_backbone,
        ImageBackbone,
        "an image model; pass hub.Module('efficientnet-lite0-imagenet'), "
        "hub.Module('mobilenet-v2-imagenet') or a finehub.nn.backbone.ImageBackbone",
    )


def _random_images() -> list[Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (48 + 8 * i, 64, 3), dtype=np.uint8) for i in range(4)]


@task_kind(
    "image-classification",
    names=("ImageClassificationTask", "ImageClassifierTask"),
    module="finehub.modules.image_classifier:ImageClassifier",
    tags=("image", "classification"),
    onnx=image_onnx("label_names", "image_size", "resize", "mean", "std", fallback=_random_images),
)
class ImageClassificationTask(SingleLabelClassification, ImageTask):
    """Backbone features -> dropout -> linear layer -> softmax over ``num_classes``.

    ``image_size`` (default: the backbone's, 224) sets the crop; the resize before it keeps the
    backbone's ratio (256/224). Smaller sizes train much faster on a CPU and suit small images.
    ``augment``: an :class:`~finehub.data.augment.Augmentation`, a mapping of its fields, True
    (the defaults) or False (train on the eval pipeline). Augmentation randomness comes from
    torch's global RNG, which the Trainer seeds and checkpoints, so runs repeat and resume exactly.
    ``norm_momentum`` sets the backbone's batch-norm running-average momentum for fine-tuning
    (None keeps the backbone's own): with EfficientNet-Lite's 0.01 (TensorFlow's), the running
    statistics that evaluation uses need hundreds of steps to describe your images rather than
    the pretraining ones, while training normalises with each batch's own.
    """

    known_metrics = CLASSIFICATION_METRICS
    augment: Augmentation | None

    def __init__(
        self,
        module: Any,
        num_classes: int,
        *,
        label_names: Sequence[str] | None = None,
        image_size: int | None = None,
        augment: Augmentation | Mapping[str, Any] | bool = True,
        dropout: float = 0.2,
        norm_momentum: float | None = 0.1,
        metrics: Sequence[str] = CLASSIFICATION_METRICS,
        main_metric: str = "accuracy",
        seed: int = 0,
    ) -> None:
        import torch

        from finehub.data.augment import Augmentation
        from finehub.imaging.transforms import eval_transform
        from finehub.nn.heads import ImageClassifierNet

        backbone = as_image_backbone(module)
        super().__init__(
            module, backbone, min_classes=2, augmentation_kind=Augmentation, **image_options(locals())
        )
        size = check_number(
            "image_size", image_size, ge=16, le=1024, integer=True, none="the backbone's size"
        )
        size = backbone.image_size if size is None else size
        check_number("dropout", dropout, ge=0, lt=1)
        check_number("norm_momentum", norm_momentum, gt=0, le=1, none="keep the backbone's")
        self.image_size, self.resize = size, round(size * backbone.resize / backbone.image_size)
        self.dropout = float(dropout)
        self.eval_transform = eval_transform(
            resize=self.resize, image_size=size, mean=backbone.mean, std=backbone.std
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = ImageClassifierNet(
                backbone.model, backbone.feature_dim, num_classes, dropout=dropout
            )
        if norm_momentum is not None:
            for m in backbone.model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.momentum = float(norm_momentum)
        self.model.train()

    def __repr__(self) -> str:
        return (
            f"ImageClassificationTask(arch={self.backbone.arch!r}, num_classes={self.num_classes}, "
            f"image_size={self.image_size}, augment={self.augment})"
        )

    def bind(self, dataset: Dataset) -> None:
        from finehub.data.examples_extra import ImageExample

        bind_examples(
            self,
            dataset,
            ImageExample,
            "ImageExample(image, label) examples; load images with hub.datasets.image_folder(...) "
            "or a built-in such as 'digits'",
        )

    def encode_examples(self, examples: Sequence[ImageExample], *, split: str) -> ImageSplit:  # type: ignore[override]
        import numpy as np

        bad = next(
            (
                i
                for i, e in enumerate(examples)
                if not isinstance(e.label, int)
                or isinstance(e.label, bool)
                or not 0 <= e.label < self.num_classes
            ),
            None,
        )
        if bad is not None:
            raise ConfigError(
                f"{split}[{bad}].label",
                f"{examples[bad].label!r} is not a class index in [0, {self.num_classes})",
            )
        labels = np.fromiter((e.label for e in examples), dtype=np.int64, count=len(examples))  # type: ignore[misc]
        return ImageSplit([e.image for e in examples], labels, train=split == "train")

    def collate(self, split: ImageSplit, indices: np.ndarray) -> dict[str, torch.Tensor]:  # type: ignore[override]
        import torch

        from finehub.data.augment import batch_generator
        from finehub.imaging.images import load_image

        images = [load_image(split.images[i], field=f"image {int(i)}") for i in indices]
        if split.train and self.augment is not None:
            b = self.backbone
            transform = self.augment.transform(
                image_size=self.image_size, rng=batch_generator(), mean=b.mean, std=b.std
            )
        else:
            transform = self.eval_transform
        return {"pixel_values": transform.batch(images), "labels": torch.from_numpy(split.labels[indices])}

    def predict(self, images: Any, *, top_k: int | None = None, batch_size: int = 16) -> list[dict[str, Any]]:
        """``[{"label", "score", "probabilities"}]`` per image, from the current weights."""
        from finehub.imaging.images import load_images
        from finehub.modules.finetuned import format_predictions, softmax
        from finehub.modules.image_classifier import predict_logits

        logits = predict_logits(self.model, self.eval_transform, load_images(images), batch_size)
        return format_predictions(softmax(logits), self.label_names, top_k)

    def export_files(self, folder: Path) -> dict[str, Any]:
        fields = super().export_files(folder)
        return {**fields, "tags": [*fields["tags"], self.backbone.arch]}

    def export_config(self, folder: Path) -> dict[str, Any]:
        self.save_weights(folder)
        b = self.backbone
        return {
            "num_classes": self.num_classes,
            "label_names": list(self.label_names),
            "arch": b.arch,
            "build": b.extra.get("build"),
            "build_kwargs": dict(b.extra.get("build_kwargs", {})),
            "feature_dim": b.feature_dim,
            "image_size": self.image_size,
            "resize": self.resize,
            "mean": list(b.mean),
            "std": list(b.std),
            "augment": self.augment.to_dict() if self.augment else None,
            "base_module": self.base_module,
        }


ImageClassifierTask = ImageClassificationTask  # PaddleHub's name
