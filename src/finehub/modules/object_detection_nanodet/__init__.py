"""object-detection-nanodet: boxes for the 80 COCO classes with NanoDet, in native PyTorch."""

from finehub.modules.object_detection_nanodet.module import COCO_LABELS, ObjectDetectionNanoDet

__all__ = ["COCO_LABELS", "ObjectDetectionNanoDet"]
