"""``object_detection`` for every NanoDet module: the built-in COCO detector and fine-tuned ones.

Images are letterboxed (scaled to fit the square input keeping their aspect ratio, centred on a
mean-grey canvas), given to the network as BGR with NanoDet's mean/std, decoded, filtered by
score, reduced by per-class NMS (:mod:`finehub.nn.nanodet_io`), and mapped back to the original
pixel coordinates. The ONNX export of a fine-tuned detector answers through the same functions.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finehub.errors import ModuleInputError
from finehub.hub.module import runnable, serving
from finehub.imaging.draw import draw_annotations
from finehub.imaging.images import ImageLike
from finehub.modules._common import (
    BatchSize,
    OutputDir,
    Paths,
    UseGpu,
    Visualization,
    check_batch_size,
    read_images,
)
from finehub.modules._human_models import OnDevice

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image
    from torch import nn

    from finehub.imaging.transforms import Letterbox
    from finehub.nn.nanodet import NanoDet
    from finehub.nn.nanodet_io import Detections


def letterbox_for(image_size: int, mean_bgr: Sequence[float]) -> Letterbox:
    """The letterbox of a NanoDet input: a ``image_size`` square on a canvas of the mean colour."""
    from finehub.imaging.transforms import Letterbox

    return Letterbox(int(image_size), fill=tuple(round(v) for v in mean_bgr[::-1]))  # type: ignore[arg-type]


def check_score_thresh(score_thresh: Any) -> float:
    if (
        isinstance(score_thresh, bool)
        or not isinstance(score_thresh, numbers.Real)
        or not 0 < score_thresh <= 1
    ):
        raise ModuleInputError("score_thresh", f"must be a number in (0, 1], got {score_thresh!r}")
    return float(score_thresh)


def _results(
    found: Detections, letterbox: Letterbox, size: tuple[int, int], labels: Sequence[str]
) -> list[dict[str, Any]]:
    import numpy as np

    scale, left, top, _, _ = letterbox.place(*size)
    shift = np.asarray([left, top, left, top], dtype=np.float32)
    limit = np.asarray([size[0], size[1], size[0], size[1]], dtype=np.float32)
    mapped = np.minimum(np.clip((found.boxes - shift) / scale, 0, None), limit)
    return [
        {
            "label": labels[int(c)],
            "confidence": round(float(s), 4),
            "left": round(float(x1), 1),
            "top": round(float(y1), 1),
            "right": round(float(x2), 1),
            "bottom": round(float(y2), 1),
        }
        for (x1, y1, x2, y2), s, c in zip(mapped, found.scores, found.classes, strict=True)
    ]


def draw(image: Image.Image, found: list[dict[str, Any]]) -> Image.Image:
    return draw_annotations(
        image,
        boxes=[(d["left"], d["top"], d["right"], d["bottom"]) for d in found],
        labels=[f"{d['label']} {d['confidence']:.2f}" for d in found],
    )


@dataclass(frozen=True)
class DetectorSpec:
    """How a NanoDet's images are prepared and its outputs named and reduced: what the PyTorch
    modules, the fine-tuning task and the ONNX runtime share."""

    letterbox: Letterbox
    mean: tuple[float, ...]
    std: tuple[float, ...]
    labels: tuple[str, ...]
    nms_iou: float

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], labels: Sequence[str], *, mean: Sequence[float], std: Sequence[float]
    ) -> DetectorSpec:
        """The spec of a module config (image_size, nms_iou, and mean/std where it has them)."""
        mean = tuple(config.get("mean", mean))
        return cls(
            letterbox_for(config["image_size"], mean),
            mean,
            tuple(config.get("std", std)),
            tuple(labels),
            float(config["nms_iou"]),
        )

    def inputs(self, images: Sequence[Image.Image]) -> np.ndarray:
        """N×3×S×S float32 network input of decoded images."""
        import numpy as np

        from finehub.nn.nanodet_io import network_input

        return np.stack([network_input(self.letterbox(img), self.mean, self.std) for img in images])

    def results(
        self, raw: np.ndarray, images: Sequence[Image.Image], *, score_thresh: float
    ) -> list[list[dict[str, Any]]]:
        """Result dicts of a batch of raw network outputs (N×A×…) for ``images``, in their pixels."""
        from finehub.nn.nanodet_io import anchor_points, decode, select

        anchors = anchor_points(self.letterbox.size, self.letterbox.size)
        scores, boxes = decode(raw, len(self.labels), anchors)
        return [
            _results(
                select(s, b, score_thresh=score_thresh, nms_iou=self.nms_iou),
                self.letterbox,
                image.size,
                self.labels,
            )
            for s, b, image in zip(scores, boxes, images, strict=True)
        ]


def detect(
    net: nn.Module, images: Sequence[Image.Image], spec: DetectorSpec, *, score_thresh: float, batch_size: int
) -> list[list[dict[str, Any]]]:
    """Result dicts of decoded PIL images, through ``net`` (a :class:`~finehub.nn.nanodet.RawNanoDet`)
    in batches; its train/eval mode is restored afterwards."""
    import torch

    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    results = []
    try:
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            batch = torch.from_numpy(spec.inputs(chunk)).to(device, memory_format=torch.channels_last)
            with torch.inference_mode():
                raw = net(batch).float().cpu().numpy()
            results += spec.results(raw, chunk, score_thresh=score_thresh)
    finally:
        net.train(was_training)
    return results


class DetectsObjects(OnDevice):
    """The ``object_detection`` method of a module whose ``__init__`` calls :meth:`setup_detector`."""

    net: NanoDet
    spec: DetectorSpec

    def setup_detector(
        self, net: NanoDet, labels: Sequence[str], config: Mapping[str, Any], device: str
    ) -> None:
        import torch

        from finehub.nn.nanodet import RawNanoDet

        self.device = torch.device(device)
        # channels-last weights and inputs: oneDNN's fastest layout for these convolutions on CPU
        self.net = net.eval().to(self.device, memory_format=torch.channels_last)
        self.raw_net = RawNanoDet(self.net)  # shares the weights, so to_device moves it too
        self.spec = DetectorSpec.from_config(config, labels, mean=net.MEAN, std=net.STD)

    @property
    def letterbox(self) -> Letterbox:
        return self.spec.letterbox

    @runnable
    @serving(batch="images", exclude=("paths", "output_dir"))
    def object_detection(
        self,
        images: ImageLike | Sequence[ImageLike] | None = None,
        score_thresh: float = 0.3,
        paths: Paths = None,
        use_gpu: UseGpu = False,
        visualization: Visualization = False,
        output_dir: OutputDir = "detection_result",
        batch_size: BatchSize = 8,
    ) -> list[list[dict[str, Any]]]:
        """Objects in each image (a list per image, in input order), best first.

        Images come as ``images=[...]`` or ``paths=[...]``. With ``visualization=True`` an annotated
        PNG per image is written to ``output_dir`` and each detection gets its path as
        ``"save_path"`` (over HTTP, where nothing is written, the drawing as ``"image_base64"``).
        """
        score_thresh = check_score_thresh(score_thresh)
        batch_size = check_batch_size(batch_size)
        inputs = read_images(self, images, paths, use_gpu=use_gpu)
        results = detect(
            self.raw_net, inputs.images, self.spec, score_thresh=score_thresh, batch_size=batch_size
        )
        if visualization:
            results = inputs.items_with_drawings(results, draw, output_dir)
        return results
