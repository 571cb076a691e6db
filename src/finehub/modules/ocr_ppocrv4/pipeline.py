"""PP-OCRv4 text detection + recognition with onnxruntime, as PaddleOCR's inference does it.

One image goes through:

1. Size guards: the longer side is brought down to ``max_side_len`` and the shorter up to
   ``min_side_len``; very flat images (a single line) get black bands above and below so the
   detector's resize stays sensible.
2. Detection (DB, "differentiable binarization"): the shorter side is scaled to
   ``det_limit_side_len``, both sides to multiples of 32; the network's text-probability map is
   thresholded (``det_binary_threshold``); a connected region is kept when the mean probability
   inside its outline reaches ``box_threshold`` (PaddleOCR's "slow" score, which unlike the
   bounding-rectangle "fast" score does not penalise curved or slanted lines), and its minimum-area
   rectangle, grown by ``det_unclip_ratio`` (DB shrinks text regions during training), is the box.
3. Each quadrilateral is warped to an upright crop (rotated 90° when much taller than wide).
4. Optionally the angle classifier flips crops it finds upside down.
5. Recognition (SVTR-LCNet + CTC): crops are resized to height 48 and batched by aspect ratio;
   greedy CTC decoding over the character list stored in the recognition model's metadata (see
   :func:`ctc_decode` for how spaces are recovered); the confidence is the mean probability of the
   emitted characters.

Images are BGR uint8 arrays, like the models were trained on. Boxes come back in the input image's
pixel coordinates, corners clockwise from top-left, in reading order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pyclipper
from shapely.geometry import Polygon


@dataclass(frozen=True)
class Settings:
    """Fixed parameters of the pipeline (PaddleOCR's defaults for PP-OCRv4)."""

    max_side_len: int = 2000
    min_side_len: int = 30
    flat_min_height: int = 30
    flat_max_ratio: float = 8.0
    det_limit_side_len: int = 736
    det_binary_threshold: float = 0.3
    det_unclip_ratio: float = 1.6
    det_max_candidates: int = 1000
    cls_threshold: float = 0.9
    cls_width: int = 192
    rec_height: int = 48
    rec_min_width: int = 320
    space_threshold: float = 0.05
    batch_size: int = 6


@dataclass(frozen=True)
class TextLine:
    box: np.ndarray  # 4×2 float, clockwise from top-left
    text: str
    confidence: float


class PPOCRv4:
    """The three ONNX sessions plus the pre- and post-processing around them."""

    def __init__(
        self, det: Path, rec: Path, cls: Path, *, settings: Settings = Settings(), num_threads: int = 0
    ) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = num_threads  # 0: onnxruntime's default
        options.log_severity_level = 3

        def session(path: Path) -> ort.InferenceSession:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        self.det, self.rec, self.cls = session(det), session(rec), session(cls)
        # Index 0 is the CTC blank; the model's list is followed by a space, as PaddleOCR appends it.
        characters = self.rec.get_modelmeta().custom_metadata_map["character"].splitlines()
        self.characters = ["", *characters, " "]
        self.settings = settings

    def __call__(
        self, image: np.ndarray, *, box_threshold: float, text_threshold: float, use_angle_cls: bool
    ) -> list[TextLine]:
        s = self.settings
        raw_h, raw_w = image.shape[:2]
        image, scale_y, scale_x = _fit_sides(image, s.max_side_len, s.min_side_len)
        image, pad_top = _pad_flat(image, s.flat_min_height, s.flat_max_ratio)
        quads = reading_order(self.detect(image, box_threshold))
        if not quads:
            return []
        crops = [_warp_crop(image, quad) for quad in quads]
        if use_angle_cls:
            crops = self.upright(crops)
        lines = []
        for quad, (text, confidence) in zip(quads, self.recognize(crops), strict=True):
            if not text or confidence < text_threshold:
                continue
            box = (quad - [0, pad_top]) * [scale_x, scale_y]
            box = np.clip(box, 0, [raw_w, raw_h])
            lines.append(TextLine(box=box, text=text, confidence=confidence))
        return lines

    def detect(self, image: np.ndarray, box_threshold: float) -> list[np.ndarray]:
        """Text quadrilaterals (4×2, clockwise from top-left) in ``image`` coordinates."""
        s = self.settings
        h, w = image.shape[:2]
        ratio = max(1.0, s.det_limit_side_len / min(h, w))
        size = (max(32, round(w * ratio / 32) * 32), max(32, round(h * ratio / 32) * 32))
        x = _normalize(cv2.resize(image, size))[None]
        prob = self.det.run(None, {self.det.get_inputs()[0].name: x})[0][0, 0]
        mask = cv2.dilate((prob > s.det_binary_threshold).astype(np.uint8), np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        scale = np.array([w / prob.shape[1], h / prob.shape[0]])
        quads = []
        for contour in contours[: s.det_max_candidates]:
            points = contour.reshape(-1, 2)
            rect, short_side = _min_area_rect(points)
            if short_side < 3 or _mean_inside(prob, points) < box_threshold:
                continue
            rect, short_side = _min_area_rect(_unclip(rect, s.det_unclip_ratio))
            if short_side < 5:
                continue
            quad = np.clip(np.round(rect * scale), 0, [w - 1, h - 1])
            if np.linalg.norm(quad[0] - quad[1]) > 3 and np.linalg.norm(quad[0] - quad[3]) > 3:
                quads.append(quad.astype(np.float32))
        return quads

    def upright(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Crops the angle classifier finds upside down (confidently), turned 180°."""
        s = self.settings
        out = list(crops)
        for batch in _batches(crops, s.batch_size):
            x = np.stack([_resize_pad(crops[i], s.rec_height, s.cls_width) for i in batch])
            probs = self.cls.run(None, {self.cls.get_inputs()[0].name: x})[0]
            for i, p in zip(batch, probs, strict=True):
                if p.argmax() == 1 and p[1] > s.cls_threshold:
                    out[i] = cv2.rotate(crops[i], cv2.ROTATE_180)
        return out

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """(text, confidence) per crop."""
        s = self.settings
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for batch in _batches(crops, s.batch_size):
            widest = max([s.rec_min_width / s.rec_height] + [_aspect(crops[i]) for i in batch])
            width = int(s.rec_height * widest)
            x = np.stack([_resize_pad(crops[i], s.rec_height, width) for i in batch])
            probs = self.rec.run(None, {self.rec.get_inputs()[0].name: x})[0]
            for i, p in zip(batch, probs, strict=True):
                out[i] = ctc_decode(p, self.characters, space_threshold=s.space_threshold)
        return out


def ctc_decode(probs: np.ndarray, characters: Sequence[str], *, space_threshold: float) -> tuple[str, float]:
    """Greedy CTC decoding of a T×C probability matrix; ``characters[0]`` is the blank and the last
    one the space.

    The best class per time step is taken, repeats merged and blanks dropped. The model rarely makes
    the space class the best one in Latin text, so a space is also emitted between two characters
    when, in the blank steps separating them, the space probability reaches ``space_threshold``.
    Returns the text and the mean probability of its characters (0 when empty).
    """
    best = probs.argmax(axis=1)
    space = len(characters) - 1
    emitted = best != 0
    emitted[1:] &= best[1:] != best[:-1]
    steps = np.flatnonzero(emitted)
    if steps.size == 0:
        return "", 0.0
    spacey = (best == 0) & (probs[:, space] >= space_threshold)
    chars: list[str] = []
    for prev, step in zip(steps[:-1], steps[1:], strict=True):
        if best[step] != space and best[prev] != space and spacey[prev + 1 : step].any():
            chars.append(" ")
        chars.append(characters[best[step]])
    text = (characters[best[steps[0]]] + "".join(chars)).strip()
    return text, float(probs[steps, best[steps]].mean())


def reading_order(quads: list[np.ndarray]) -> list[np.ndarray]:
    """Top-to-bottom lines, left-to-right within a line. Two boxes share a line when their vertical
    extents overlap by at least half of the shorter one's height."""
    lines: list[list[np.ndarray]] = []
    for quad in sorted(quads, key=lambda q: q[:, 1].mean()):
        top, bottom = quad[:, 1].min(), quad[:, 1].max()
        if lines:
            anchor = lines[-1][0]
            a_top, a_bottom = anchor[:, 1].min(), anchor[:, 1].max()
            overlap = min(bottom, a_bottom) - max(top, a_top)
            if overlap >= 0.5 * min(bottom - top, a_bottom - a_top):
                lines[-1].append(quad)
                continue
        lines.append([quad])
    return [quad for line in lines for quad in sorted(line, key=lambda q: q[:, 0].min())]


def _fit_sides(image: np.ndarray, max_side: int, min_side: int) -> tuple[np.ndarray, float, float]:
    """Resize so the longer side is <= max_side and the shorter >= min_side (multiples of 32);
    returns the image and the factors mapping its coordinates back to the input's."""
    h, w = image.shape[:2]
    ratio = min(1.0, max_side / max(h, w))
    ratio = max(ratio, min_side / min(h, w))
    if ratio == 1.0:
        return image, 1.0, 1.0
    new_h, new_w = max(32, round(h * ratio / 32) * 32), max(32, round(w * ratio / 32) * 32)
    return cv2.resize(image, (new_w, new_h)), h / new_h, w / new_w


def _pad_flat(image: np.ndarray, min_height: int, max_ratio: float) -> tuple[np.ndarray, int]:
    """Black bands above and below a very flat image; returns the image and the top band's height."""
    h, w = image.shape[:2]
    if h > min_height and w / h <= max_ratio:
        return image, 0
    pad = abs(max(int(w / max_ratio), min_height) * 2 - h) // 2
    return cv2.copyMakeBorder(image, pad, pad, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0)), pad


def _normalize(image: np.ndarray) -> np.ndarray:
    """HWC uint8 -> CHW float32 in [-1, 1]."""
    return ((image.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)


def _min_area_rect(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The minimum-area rectangle around ``points`` as 4×2 corners clockwise from top-left, and its
    shorter side."""
    rect = cv2.minAreaRect(points.astype(np.float32))
    corners = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])
    left = sorted(corners[:2], key=lambda p: p[1])
    right = sorted(corners[2:], key=lambda p: p[1])
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32), min(rect[1])


def _mean_inside(prob: np.ndarray, polygon: np.ndarray) -> float:
    """Mean of the probability map inside the polygon (N×2 points)."""
    h, w = prob.shape
    x0, y0 = np.clip(np.floor(polygon.min(axis=0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(polygon.max(axis=0)).astype(int), 0, [w - 1, h - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    cv2.fillPoly(mask, [(polygon - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def _unclip(quad: np.ndarray, ratio: float) -> np.ndarray:
    """Grow the polygon outwards by area * ratio / perimeter (the inverse of DB's shrinking)."""
    polygon = Polygon(quad)
    distance = polygon.area * ratio / polygon.length
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(quad.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(distance)
    return np.array(grown[0] if grown else quad, dtype=np.float32).reshape(-1, 2)


def _warp_crop(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The quadrilateral warped to an upright rectangle; tall crops are turned 90° (vertical text)."""
    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    crop = cv2.warpPerspective(
        image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    return np.rot90(crop) if height >= 1.5 * width else crop


def _aspect(image: np.ndarray) -> float:
    return image.shape[1] / image.shape[0]


def _resize_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize to ``height`` keeping the aspect ratio (at most ``width`` wide), normalise, and pad
    with zeros on the right to ``width``."""
    new_w = min(width, math.ceil(height * _aspect(image)))
    out = np.zeros((3, height, width), dtype=np.float32)
    out[:, :, :new_w] = _normalize(cv2.resize(image, (new_w, height)))
    return out


def _batches(crops: list[np.ndarray], size: int) -> list[list[int]]:
    """Indices grouped by similar aspect ratio, so little padding is wasted."""
    order = sorted(range(len(crops)), key=lambda i: _aspect(crops[i]))
    return [order[i : i + size] for i in range(0, len(order), size)]
