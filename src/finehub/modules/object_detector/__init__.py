"""The module class a fine-tuned object detector loads as, from its exported folder.

Folder layout (written by ``finehub.finetune.export``; see :mod:`finehub.modules.finetuned`)::

    module.json          ModuleInfo; ``config`` holds num_classes, label_names, image_size, the
                         input's mean/std (BGR, 0-255 scale) and nms_iou
    model.safetensors    the RawNanoDet state dict (``encoder.*``: backbone and neck, ``head.*``)

It answers like the built-in ``object-detection-nanodet`` (same method, arguments and results),
through the same code (:mod:`finehub.modules.object_detection_nanodet.detector`), and so does its
ONNX export.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import InvalidManifestError
from finehub.hub.module import moduleinfo
from finehub.modules._common import IMAGE_INPUTS
from finehub.modules.finetuned import WEIGHTS, FinetunedModule
from finehub.modules.object_detection_nanodet.detector import (
    DetectorSpec,
    DetectsObjects,
    check_score_thresh,
)

if TYPE_CHECKING:
    import numpy as np

    from finehub.modules.object_detection_nanodet.module import DetectionBackbone


@moduleinfo(
    name="object-detector",
    version="1.0.0",
    task="object-detection",
    summary="An object detector fine-tuned with finehub (NanoDet), loaded from its exported folder.",
    inputs=IMAGE_INPUTS,
    outputs={
        "detections": "per image, a list of {label, confidence, left, top, right, bottom} sorted by "
        "decreasing confidence; pixel coordinates of the original image, origin top-left"
    },
)
class ObjectDetector(DetectsObjects, FinetunedModule):
    """Generic class of exported detectors; each instance takes its metadata from ``module.json``."""

    config_keys = ("num_classes", "label_names", "image_size", "mean", "std", "nms_iou")

    def __init__(self, *, directory: str | Path | None = None, device: str = "cpu", **init_args: Any) -> None:
        super().__init__(directory=directory, **init_args)
        from finehub.hub.weights import load_state_dict
        from finehub.nn.nanodet import NanoDet, RawNanoDet

        net = NanoDet(int(self.config["num_classes"]))
        try:
            RawNanoDet(net).load_state_dict(load_state_dict(self.directory / WEIGHTS), strict=True)
        except RuntimeError as e:
            raise InvalidManifestError(
                str(self.directory / WEIGHTS), f"weights do not match the network: {e}"
            ) from e
        self.setup_detector(net, self.label_names, self.config, device)

    def backbone(self) -> DetectionBackbone:
        """The fine-tuned detector, so an exported detector can be fine-tuned further."""
        from finehub.modules.object_detection_nanodet.module import DetectionBackbone

        return DetectionBackbone(
            self.net, self.letterbox.size, self.spec.mean, self.spec.std, tuple(self.label_names)
        )

    @classmethod
    def onnx_feeds(cls, runtime: Any, inputs: Sequence[Any]) -> dict[str, np.ndarray]:
        from finehub.imaging.images import load_images

        return {"pixel_values": _spec(runtime.spec).inputs(load_images(list(inputs)))}

    @classmethod
    def onnx_predict(
        cls, runtime: Any, inputs: Sequence[Any], batch_size: int, *, threshold: float = 0.3
    ) -> list[list[dict[str, Any]]]:
        """Detections as the PyTorch module gives them; ``threshold`` is its ``score_thresh``."""
        from finehub.imaging.images import load_images

        spec, score_thresh = _spec(runtime.spec), check_score_thresh(threshold)

        def run(batch: Sequence[Any]) -> list[list[dict[str, Any]]]:
            raw = runtime.raw_outputs({"pixel_values": spec.inputs(batch)})
            return spec.results(raw, batch, score_thresh=score_thresh)

        return runtime.batched(load_images(list(inputs)), batch_size, run)


def _spec(settings: dict[str, Any]) -> DetectorSpec:
    """The ONNX settings (written from the module config) as the PyTorch module's spec."""
    return DetectorSpec.from_config(
        settings, settings["label_names"], mean=settings["mean"], std=settings["std"]
    )
