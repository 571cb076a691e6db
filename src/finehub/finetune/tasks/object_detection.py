"""Object detection on the pretrained NanoDet: a new class head for your classes, NanoDet's loss.

The backbone, neck and each level's shared convolution start from the pretrained detector, and
so do the distance rows of each level's output convolution (the box branch: where an object's
sides are does not depend on which classes there are); the class rows start fresh, sized to
``num_classes``. Training uses NanoDet's own loss (:mod:`finehub.nn.gfl`: ATSS assignment,
quality focal loss, distribution focal loss, GIoU). Evaluation decodes, keeps scores of at least
``eval_score_thresh``, applies per-class NMS and scores the result with COCOeval in the letterboxed
frame (mAP@[.5:.95] is the main metric; mAP@.5, mAP@.75, recall and per-class AP and recall too).

Examples are :class:`~finehub.data.detection.DetectionExample` (an image plus its boxes in
pixels); images are decoded per batch. Training batches go through
:class:`~finehub.imaging.box_transforms.DetectionAugmentation`, whose randomness comes from torch's
global RNG (seeded and checkpointed by the Trainer), so runs repeat and resume exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ConfigError
from finehub.finetune.kinds import image_onnx, task_kind
from finehub.finetune.metrics import DETECTION_METRICS
from finehub.finetune.tasks._image_base import ImageSplit, ImageTask, image_options
from finehub.finetune.tasks.base import as_backbone, bind_examples
from finehub.finetune.validation import check_bool, check_number

if TYPE_CHECKING:
    import numpy as np
    import torch

    from finehub.data.dataset import Dataset
    from finehub.data.detection import DetectionExample
    from finehub.imaging.box_transforms import DetectionAugmentation
    from finehub.modules.object_detection_nanodet.module import DetectionBackbone


def as_detection_backbone(module_or_backbone: Any) -> DetectionBackbone:
    """A DetectionBackbone, given one or a module that provides one through ``backbone()``."""
    from finehub.modules.object_detection_nanodet.module import DetectionBackbone

    return as_backbone(
        module_or_backbone,
        DetectionBackbone,
        "a detector to fine-tune; pass hub.Module('object-detection-nanodet') or a detector exported by finehub",
    )


@dataclass(frozen=True)
class DetectionSplit(ImageSplit):
    """An :class:`ImageSplit` whose ``labels`` hold each image's objects in the letterboxed frame
    (boxes, classes), what evaluation scores against (empty for training splits), plus the objects
    as given (``boxes`` in pixels, ``classes``), what training batches are drawn from."""

    boxes: list[np.ndarray]
    classes: list[np.ndarray]


def _map50(results: Sequence[Any], examples: Sequence[DetectionExample], names: Sequence[str]) -> float:
    """mAP@.5 of a module's answers (result dicts, original pixels) on labelled examples."""
    import numpy as np

    from finehub.finetune.metrics import detection_metrics

    found = [
        (
            np.asarray([[d["left"], d["top"], d["right"], d["bottom"]] for d in r], np.float32).reshape(
                -1, 4
            ),
            np.asarray([d["confidence"] for d in r], np.float32),
            np.asarray([list(names).index(d["label"]) for d in r], np.int64),
        )
        for r in results
    ]
    truth = [(e.boxes, e.labels) for e in examples]
    return float(detection_metrics(found, truth, names, ("map50",))["map50"])


def _sample_images() -> list[Any]:
    from skimage import data

    return [data.astronaut(), data.coffee(), data.chelsea()]


@task_kind(
    "object-detection",
    names=("ObjectDetectionTask", "DetectionTask"),
    module="finehub.modules.object_detector:ObjectDetector",
    tags=("vision", "detection"),
    onnx=image_onnx(
        "label_names",
        "image_size",
        "mean",
        "std",
        "nms_iou",
        output="raw",
        fallback=_sample_images,
        answer=lambda found: [d["label"] for d in found],
        score=lambda results, examples, names: ("map50", _map50(results, examples, names)),
        network=lambda module: module.raw_net,
    ),
)
class ObjectDetectionTask(ImageTask):
    """NanoDet's backbone and neck, a class head sized to ``num_classes``, NanoDet's loss.

    ``image_size``: the letterboxed square the network sees (a multiple of 32; 416 as pretrained,
    320 trains about 1.7× faster on small objects-poor images). ``augment``: a
    :class:`~finehub.imaging.box_transforms.DetectionAugmentation`, a mapping of its fields, True
    (the defaults) or False. ``pretrained=False`` starts the same network from random weights (the
    baseline that shows what pretraining buys). ``eval_score_thresh`` and ``nms_iou`` shape the
    detections evaluation scores (COCO practice: keep scores down to 0.05).
    """

    known_metrics = DETECTION_METRICS
    augment: DetectionAugmentation | None

    def __init__(
        self,
        module: Any,
        num_classes: int,
        *,
        label_names: Sequence[str] | None = None,
        image_size: int = 416,
        augment: DetectionAugmentation | Mapping[str, Any] | bool = True,
        pretrained: bool = True,
        eval_score_thresh: float = 0.05,
        nms_iou: float = 0.6,
        metrics: Sequence[str] = DETECTION_METRICS,
        main_metric: str = "map",
        seed: int = 0,
    ) -> None:
        import torch

        from finehub.imaging.box_transforms import DetectionAugmentation
        from finehub.modules.object_detection_nanodet.detector import letterbox_for
        from finehub.nn.gfl import GFLLoss
        from finehub.nn.nanodet import NanoDet, RawNanoDet, with_classes
        from finehub.nn.nanodet_io import REG_MAX, level_shapes

        backbone = as_detection_backbone(module)
        super().__init__(
            module,
            backbone,
            min_classes=1,
            augmentation_kind=DetectionAugmentation,
            **image_options(locals()),
        )
        check_number("image_size", image_size, ge=64, le=1280, integer=True)
        if image_size % 32:
            raise ConfigError(
                "image_size", f"must be a multiple of 32 (the network's largest stride), got {image_size}"
            )
        check_bool("pretrained", pretrained)
        check_number("eval_score_thresh", eval_score_thresh, gt=0, lt=1)
        check_number("nms_iou", nms_iou, gt=0, le=1)
        self.image_size, self.pretrained = int(image_size), bool(pretrained)
        self.eval_score_thresh, self.nms_iou = float(eval_score_thresh), float(nms_iou)
        self.mean, self.std = tuple(backbone.mean), tuple(backbone.std)
        self.letterbox = letterbox_for(self.image_size, self.mean)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            source = backbone.model if pretrained else NanoDet(backbone.model.num_classes)
            net = with_classes(source.float(), self.num_classes, seed=seed)
        self.model = RawNanoDet(net).to(memory_format=torch.channels_last).train()
        sizes = tuple(h * w for h, w in level_shapes(self.image_size, self.image_size))
        self.loss_fn = GFLLoss(self.num_classes, REG_MAX, sizes)
        self._points: dict[torch.device, torch.Tensor] = {}

    def __repr__(self) -> str:
        return (
            f"ObjectDetectionTask(num_classes={self.num_classes}, image_size={self.image_size}, "
            f"pretrained={self.pretrained}, augment={self.augment})"
        )

    def bind(self, dataset: Dataset) -> None:
        from finehub.data.detection import DetectionExample

        bind_examples(
            self,
            dataset,
            DetectionExample,
            "DetectionExample(image, boxes, labels) examples; load them with hub.datasets.from_coco, "
            "from_voc or from_yolo, or a built-in such as 'pasted-objects'",
        )

    # --- data --------------------------------------------------------------------------------------

    def label_bytes(self, example: DetectionExample) -> bytes:
        return example.boxes.tobytes() + example.labels.tobytes()

    def encode_examples(self, examples: Sequence[DetectionExample], *, split: str) -> DetectionSplit:  # type: ignore[override]
        """Check the classes; for evaluation, also each image's objects in the letterboxed frame."""
        from finehub.imaging.box_transforms import letterboxed_boxes
        from finehub.imaging.images import load_image

        for i, e in enumerate(examples):
            if len(e.labels) and not (e.labels.min() >= 0 and e.labels.max() < self.num_classes):
                raise ConfigError(
                    f"{split}[{i}].labels",
                    f"{e.labels.tolist()} holds a class outside [0, {self.num_classes})",
                )
        train = split == "train"
        labels = []
        if not train:  # the objects where evaluation batches put them (collate's letterbox)
            for i, e in enumerate(examples):
                size = load_image(e.image, field=f"{split}[{i}].image").size
                labels.append((letterboxed_boxes(e.boxes, size, self.letterbox), e.labels))
        return DetectionSplit(
            [e.image for e in examples],
            labels,
            train,
            [e.boxes for e in examples],
            [e.labels for e in examples],
        )

    def collate(self, split: DetectionSplit, indices: np.ndarray) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """Letterboxed network inputs (augmented for training) and N×M×5 objects (class, x1, y1,
        x2, y2 in the letterboxed frame; class -1 pads images with fewer objects)."""
        import numpy as np
        import torch

        from finehub.data.augment import batch_generator
        from finehub.imaging.box_transforms import letterbox_with_boxes
        from finehub.imaging.images import load_image
        from finehub.nn.nanodet_io import network_input

        rng = batch_generator() if split.train and self.augment is not None else None
        arrays, objects = [], []
        for i in indices:
            image = load_image(split.images[i], field=f"image {int(i)}")
            boxes, classes = split.boxes[i], split.classes[i]
            if rng is not None:
                image, boxes, classes = self.augment(image, boxes, classes, rng)  # type: ignore[misc]
            image, boxes = letterbox_with_boxes(image, boxes, self.image_size, self.letterbox.fill)
            arrays.append(network_input(image, self.mean, self.std))
            objects.append(np.concatenate([classes[:, None].astype(np.float32), boxes], 1))
        targets = np.full((len(indices), max(1, *map(len, objects)), 5), -1, dtype=np.float32)
        for row, found in zip(targets, objects, strict=True):
            row[: len(found)] = found
        pixels = torch.from_numpy(np.stack(arrays)).contiguous(memory_format=torch.channels_last)
        return {"pixel_values": pixels, "labels": torch.from_numpy(targets)}

    # --- training and evaluation ---------------------------------------------------------------------

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import torch

        points = self._points.get(outputs.device)
        if points is None:
            from finehub.nn.nanodet_io import anchor_points

            points = torch.from_numpy(anchor_points(self.image_size, self.image_size)).to(outputs.device)
            self._points[outputs.device] = points
        return self.loss_fn(outputs, labels, points)

    def compute_metrics(
        self, outputs: torch.Tensor, labels: list[tuple[np.ndarray, np.ndarray]]
    ) -> dict[str, Any]:  # type: ignore[override]
        from finehub.finetune.metrics import detection_metrics
        from finehub.nn.nanodet_io import anchor_points, decode, select

        anchors = anchor_points(self.image_size, self.image_size)
        found = []
        for raw in outputs.float().numpy():
            scores, boxes = decode(raw, self.num_classes, anchors)
            d = select(scores, boxes, score_thresh=self.eval_score_thresh, nms_iou=self.nms_iou)
            found.append((d.boxes, d.scores, d.classes))
        return detection_metrics(found, labels, self.label_names, self.metrics)

    def predict(
        self, images: Any, *, score_thresh: float = 0.3, batch_size: int = 8
    ) -> list[list[dict[str, Any]]]:  # type: ignore[override]
        """Per image, ``[{"label", "confidence", "left", "top", "right", "bottom"}]`` from the
        current weights, as the exported module answers."""
        from finehub.imaging.images import load_images
        from finehub.modules._common import check_batch_size
        from finehub.modules.object_detection_nanodet.detector import DetectorSpec, check_score_thresh, detect

        spec = DetectorSpec(self.letterbox, self.mean, self.std, tuple(self.label_names), self.nms_iou)
        return detect(
            self.model,
            load_images(images),
            spec,
            score_thresh=check_score_thresh(score_thresh),
            batch_size=check_batch_size(batch_size),
        )

    def report_section(self, run_dir: Path, examples: Sequence[DetectionExample]) -> str:
        """A few held-out images with the true boxes (green) and the best model's (red, with
        label and score), saved as ``report/detections-<i>.png``."""
        from finehub._utils.fs import atomic_path
        from finehub.imaging.draw import RED, draw_annotations
        from finehub.imaging.images import load_image

        folder = run_dir / "report"
        folder.mkdir(parents=True, exist_ok=True)
        images = [load_image(e.image, field=f"report image {i}") for i, e in enumerate(examples)]
        lines = ["### Detections on held-out images", "", "True boxes in green, predicted ones in red.", ""]
        for i, (example, image, found) in enumerate(zip(examples, images, self.predict(images), strict=True)):
            truth = draw_annotations(image, boxes=example.boxes.tolist())
            drawn = draw_annotations(
                truth,
                boxes=[(d["left"], d["top"], d["right"], d["bottom"]) for d in found],
                labels=[f"{d['label']} {d['confidence']:.2f}" for d in found],
                color=RED,
            )
            with atomic_path(folder / f"detections-{i}.png") as tmp:
                drawn.save(tmp, format="PNG")
            lines.append(f"![held-out image {i}](report/detections-{i}.png)")
        return "\n".join(lines)

    # --- export ----------------------------------------------------------------------------------------

    def export_config(self, folder: Path) -> dict[str, Any]:
        self.save_weights(folder)
        return {
            "num_classes": self.num_classes,
            "label_names": list(self.label_names),
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "nms_iou": self.nms_iou,
            "augment": self.augment.to_dict() if self.augment else None,
            "base_module": self.base_module,
        }
