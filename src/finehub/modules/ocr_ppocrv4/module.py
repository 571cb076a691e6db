"""ocr-ppocrv4: Chinese and English text detection + recognition with PaddleOCR's PP-OCRv4 models.

The ONNX files (detector, recogniser, angle classifier) are read from the installed
``rapidocr-onnxruntime`` package (never imported); the character list comes from the recognition
model's own metadata. Each file's sha256 is checked against the pinned value once per process.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub._utils.lazy import require
from finehub.errors import ModuleInputError
from finehub.hub.module import Asset, ModuleBase, moduleinfo, runnable, serving
from finehub.imaging.draw import draw_annotations
from finehub.imaging.images import ImageLike
from finehub.modules._common import (
    BUILT_IN_FINEHUB,
    IMAGE_INPUTS,
    BatchSize,
    OutputDir,
    Paths,
    UseGpu,
    Visualization,
    check_batch_size,
    drawing_wanted,
    package_file,
    read_images,
    rgb_from_bgr,
)

if TYPE_CHECKING:
    from PIL import Image

    from finehub.modules.ocr_ppocrv4.pipeline import PPOCRv4

_ASSETS = (
    Asset(
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        size=4745517,
    ),
    Asset(
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
        "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
        size=10857958,
    ),
    Asset(
        "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        size=585532,
    ),
)
MAX_ASPECT_RATIO = 200  # wider (or taller) images are strips no resize can make readable


@moduleinfo(
    name="ocr-ppocrv4",
    version="1.0.0",
    task="ocr",
    summary="Chinese and English OCR with PaddleOCR's PP-OCRv4 models (DB text detection, optional angle "
    "classifier, SVTR-LCNet CTC recognition) on onnxruntime.",
    license="Apache-2.0",
    author="finehub; models by PaddlePaddle (PP-OCRv4), ONNX export by RapidOCR",
    tags=("vision", "ocr", "text-detection", "text-recognition", "chinese", "english"),
    inputs=IMAGE_INPUTS,
    outputs={
        "ocr": "per image, a list of {text, confidence, box: four [x, y] corners clockwise from top-left} "
        "in reading order (top to bottom, left to right within a line)",
        "recognize_text": "PaddleHub's shape: per image {data: [{text, confidence, text_box_position}], "
        "save_path}",
    },
    finehub=BUILT_IN_FINEHUB,
    requirements=("onnxruntime>=1.16", "opencv-python-headless<5", "pyclipper>=1.3", "shapely>=2"),
    assets=_ASSETS,
    config={
        # The models' package depends on opencv-python (clashing with the headless build), so it is
        # installed without dependencies.
        "weights_install": "pip install --no-deps rapidocr-onnxruntime==1.4.4",
        "extra": "ocr",
    },
)
class OCRPPOCRv4(ModuleBase):
    """Reads printed Chinese and English text (digits and punctuation included) in photos and scans.

    ``num_threads`` bounds onnxruntime's threads per session (0: its default, all cores).
    """

    def __init__(
        self, *, directory: str | Path | None = None, num_threads: int = 0, **init_args: Any
    ) -> None:
        super().__init__(directory=directory, **init_args)
        for module in ("onnxruntime", "cv2", "pyclipper", "shapely"):
            package = {"cv2": "opencv-python-headless"}.get(module, module)
            require(
                module, package=package, extra=self.info.config["extra"], feature=f"Module {self.info.name!r}"
            )
        from finehub.modules.ocr_ppocrv4.pipeline import PPOCRv4

        det, rec, cls = (self._verified_file(asset) for asset in self.info.assets)
        self.engine: PPOCRv4 = PPOCRv4(det, rec, cls, num_threads=num_threads)

    @runnable
    @serving(batch="images", exclude=("paths", "visualize", "output_dir"))
    def ocr(
        self,
        images: ImageLike | Sequence[ImageLike] | None = None,
        box_threshold: float = 0.5,
        text_threshold: float = 0.5,
        use_angle_cls: bool = False,
        visualize: bool = False,
        output_dir: OutputDir = "ocr_result",
        *,
        paths: Paths = None,
        use_gpu: UseGpu = False,
        batch_size: BatchSize = 1,
        visualization: Visualization = False,
    ) -> list[list[dict[str, Any]]]:
        """Text lines of each image (a list per image, in input order; ``paths`` follow ``images``).

        ``box_threshold``: minimum mean text probability of a detected region; ``text_threshold``:
        minimum recognition confidence of a line; ``use_angle_cls``: also read upside-down lines.
        With ``visualize=True`` (or PaddleHub's ``visualization``) an annotated PNG per image (boxes
        numbered in result order) is written to ``output_dir`` and each line dict gets its path as
        ``"save_path"``; over HTTP, where nothing is written, ``recognize_text`` returns the drawing.
        Images are read one at a time whatever ``batch_size`` says (lines are batched inside).
        """
        draw = drawing_wanted(visualize, visualization, method="ocr", alternative="recognize_text")
        check_batch_size(batch_size)
        inputs = read_images(self, images, paths, use_gpu=use_gpu)
        results = self._read(inputs.images, box_threshold, text_threshold, use_angle_cls)
        if draw:
            results = inputs.items_with_drawings(results, _drawing, output_dir)
        return results

    @serving(batch="images", exclude=("paths", "output_dir"))
    def recognize_text(
        self,
        images: Sequence[ImageLike] | None = None,
        paths: Paths = None,
        use_gpu: UseGpu = False,
        output_dir: OutputDir = "ocr_result",
        visualization: Visualization = False,
        box_thresh: float = 0.5,
        text_thresh: float = 0.5,
        batch_size: BatchSize = 1,
    ) -> list[dict[str, Any]]:
        """PaddleHub's call and result: per image ``{"data": [{"text", "confidence",
        "text_box_position"}], "save_path": ...}``.

        ``text_box_position`` holds the four [x, y] corners clockwise from top-left; ``save_path`` is
        "" unless ``visualization=True`` (over HTTP the drawing comes back as ``image_base64``).
        Upside-down lines are turned upright first, as PaddleHub's OCR modules do. Arrays in
        ``images`` are BGR (``cv2.imread`` order), as in PaddleHub; ``ocr`` takes RGB.
        """
        check_batch_size(batch_size)
        inputs = read_images(self, rgb_from_bgr(images), paths, use_gpu=use_gpu)
        read = self._read(inputs.images, box_thresh, text_thresh, True)
        results: list[dict[str, Any]] = [
            {
                "data": [
                    {"text": line["text"], "confidence": line["confidence"], "text_box_position": line["box"]}
                    for line in lines
                ],
                "save_path": "",
            }
            for lines in read
        ]
        if visualization:
            results = inputs.entries_with_drawings(results, read, _drawing, output_dir)
        return results

    def _read(
        self, images: list[Image.Image], box_threshold: Any, text_threshold: Any, use_angle_cls: Any
    ) -> list[list[dict[str, Any]]]:
        """The lines of each image, as finehub's dicts."""
        import numpy as np

        for name, value in (("box_threshold", box_threshold), ("text_threshold", text_threshold)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
                raise ModuleInputError(name, f"must be a number in [0, 1], got {value!r}")
        out = []
        for index, image in enumerate(images):
            w, h = image.size
            if max(w, h) > MAX_ASPECT_RATIO * min(w, h):
                raise ModuleInputError(
                    f"images[{index}]", f"a {w}×{h} image is too elongated to read; crop it into pieces first"
                )
            bgr = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
            found = self.engine(
                bgr,
                box_threshold=box_threshold,
                text_threshold=text_threshold,
                use_angle_cls=bool(use_angle_cls),
            )
            lines = [
                {
                    "text": line.text,
                    "confidence": round(line.confidence, 4),
                    "box": [[round(float(x)), round(float(y))] for x, y in line.box],
                }
                for line in found
            ]
            out.append(lines)
        return out

    def _verified_file(self, asset: Asset) -> Path:
        """The asset's file in the installed package, its sha256 checked once per process."""
        return package_file(asset, module=self.info.name, install=self.info.config["weights_install"])


def _drawing(image: Image.Image, lines: list[dict[str, Any]]) -> Image.Image:
    return draw_annotations(
        image, polygons=[line["box"] for line in lines], labels=[str(k + 1) for k in range(len(lines))]
    )
