"""pose-movenet: 17 COCO body keypoints of one person per image with MoveNet Lightning."""

from finehub.modules.pose_movenet.module import KEYPOINT_NAMES, SKELETON, PoseMoveNet

__all__ = ["KEYPOINT_NAMES", "SKELETON", "PoseMoveNet"]
