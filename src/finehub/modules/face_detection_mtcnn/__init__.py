"""face-detection-mtcnn: MTCNN face boxes, scores and landmarks."""

from finehub.modules.face_detection_mtcnn.module import FaceDetectionMTCNN

__all__ = ["FaceDetectionMTCNN"]
