"""human-segmentation: a person mask per image with MediaPipe's selfie segmentation model."""

from finehub.modules.human_segmentation.module import HumanSegmentation

__all__ = ["HumanSegmentation"]
