"""ocr-ppocrv4: Chinese and English OCR with PP-OCRv4 on onnxruntime."""

from finehub.modules.ocr_ppocrv4.module import OCRPPOCRv4

__all__ = ["OCRPPOCRv4"]
