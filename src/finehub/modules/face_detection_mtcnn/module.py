"""face-detection-mtcnn: face boxes, scores and five landmarks with MTCNN.

Weights are the P-Net/R-Net/O-Net state_dicts shipped in the ``facenet-pytorch`` package (only the
files are read; its code is never imported). They are pickles, so each is checked against the
sha256 pinned below, converted once to safetensors under ``FINEHUB_HOME/converted/`` and loaded
from there.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ModuleInputError
from finehub.hub.module import Asset, ModuleBase, moduleinfo, runnable, serving
from finehub.imaging.draw import draw_annotations
from finehub.imaging.images import ImageLike
from finehub.modules._common import (
    BUILT_IN_FINEHUB,
    IMAGE_INPUTS,
    BatchSize,
    OnDevice,
    OutputDir,
    Paths,
    UseGpu,
    Visualization,
    check_batch_size,
    drawing_wanted,
    package_weights,
    read_images,
    rgb_from_bgr,
)

if TYPE_CHECKING:
    from PIL import Image

    from finehub.nn.mtcnn import MTCNN, Detections

_ASSETS = (
    Asset(
        "facenet_pytorch/data/pnet.pt",
        "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
        size=28570,
    ),
    Asset(
        "facenet_pytorch/data/rnet.pt",
        "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
        size=403147,
    ),
    Asset(
        "facenet_pytorch/data/onet.pt",
        "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
        size=1559269,
    ),
)
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
# P-Net scores 12-px windows, so a face smaller than 12 px needs the image upscaled by 12 / size:
# 10 px is a 1.44× larger image; smaller would multiply memory and time. The top is a sanity bound.
MIN_FACE_SIZE_RANGE = (10.0, 100_000.0)
# Below this P-Net cut-off nearly every window of a textured image becomes a candidate, and the
# first NMS (linear in candidates per kept box) takes minutes: 0.1 is 15× slower than 0.6 on noise.
MIN_PNET_THRESHOLD = 0.3


@moduleinfo(
    name="face-detection-mtcnn",
    version="1.0.0",
    task="face-detection",
    summary="MTCNN face detector (P-Net/R-Net/O-Net cascade): face boxes, confidences and five facial landmarks.",
    license="MIT",
    author="finehub; weights from facenet-pytorch (Tim Esler), after Zhang et al., MTCNN (2016)",
    tags=("vision", "face", "detection", "landmarks", "mtcnn"),
    inputs=IMAGE_INPUTS,
    outputs={
        "faces": "per image, a list of {box: [x1, y1, x2, y2], score, landmarks: {left_eye, right_eye, nose, "
        "mouth_left, mouth_right: [x, y]}} sorted by decreasing score; pixel coordinates, origin top-left"
    },
    finehub=BUILT_IN_FINEHUB,
    requirements=("torch>=2.2", "pillow>=10.1"),
    assets=_ASSETS,
    config={
        # The weights' package pins an old torch/torchvision, so it is installed without dependencies.
        "weights_install": "pip install --no-deps facenet-pytorch==2.6.0",
        "pyramid_factor": 0.709,
    },
)
class FaceDetectionMTCNN(OnDevice, ModuleBase):
    """Finds faces of any size down to ``min_face_size`` pixels (10 at least); runs on CPU or CUDA."""

    def __init__(self, *, directory: str | Path | None = None, device: str = "cpu", **init_args: Any) -> None:
        super().__init__(directory=directory, **init_args)
        import torch

        from finehub.nn.mtcnn import MTCNN

        self.device = torch.device(device)
        self.net: MTCNN = MTCNN()
        for asset in self.info.assets:
            tensors = package_weights(asset, self.info, install=self.info.config["weights_install"])
            getattr(self.net, Path(asset.path).stem).load_state_dict(tensors, strict=True)
        self.net.eval().to(self.device)

    @runnable
    @serving(batch="images", exclude=("paths", "visualize", "output_dir"))
    def detect_faces(
        self,
        images: ImageLike | Sequence[ImageLike] | None = None,
        min_face_size: float = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        keep_all: bool = True,
        visualize: bool = False,
        output_dir: OutputDir = "detection_result",
        *,
        paths: Paths = None,
        use_gpu: UseGpu = False,
        batch_size: BatchSize = 8,
        visualization: Visualization = False,
    ) -> list[list[dict[str, Any]]]:
        """Faces in each image (a list per image, in input order; ``paths`` follow ``images``).

        ``thresholds`` are the P-Net, R-Net and O-Net score cut-offs; ``keep_all=False`` keeps only the
        largest face of each image. With ``visualize=True`` (or PaddleHub's ``visualization``) an
        annotated PNG per image is written to ``output_dir`` and each face dict gets its path as
        ``"save_path"``; over HTTP, where nothing is written, ``face_detection`` returns the drawing.
        """
        draw = drawing_wanted(visualize, visualization, method="detect_faces", alternative="face_detection")
        check_batch_size(batch_size)
        inputs = read_images(self, images, paths, use_gpu=use_gpu)
        results = self._run(inputs.images, min_face_size, thresholds, keep_all, batch_size)
        if draw:  # one drawing per input, faces or not
            results = inputs.items_with_drawings(results, _drawing, output_dir)
        return results

    @serving(batch="images", exclude=("paths", "data", "output_dir"))
    def face_detection(
        self,
        images: Sequence[ImageLike] | None = None,
        paths: Paths = None,
        data: dict[str, Sequence[Any]] | None = None,
        use_gpu: UseGpu = False,
        output_dir: OutputDir = "detection_result",
        visualization: Visualization = False,
        confs_threshold: float = 0.7,
        batch_size: BatchSize = 8,
    ) -> list[dict[str, Any]]:
        """PaddleHub's call and result: per image ``{"data": [{"left", "right", "top", "bottom",
        "confidence"}], "path": ...}``.

        Images come as ``images=[...]``, ``paths=[...]`` or ``data={"image": [...]}``; ``path`` is the
        input's file path, or None. ``confs_threshold`` is the final (O-Net) score cut-off. As in
        PaddleHub, arrays in ``images`` are BGR (``cv2.imread`` order); ``detect_faces`` takes RGB.
        With ``visualization=True`` each entry gets ``save_path`` (or ``image_base64`` over HTTP).
        """
        check_batch_size(batch_size)
        inputs = read_images(self, rgb_from_bgr(images), paths, data, use_gpu=use_gpu)
        found = self._run(inputs.images, 20, (0.6, 0.7, confs_threshold), True, batch_size)
        results: list[dict[str, Any]] = [
            {
                "data": [
                    {
                        "left": f["box"][0],
                        "right": f["box"][2],
                        "top": f["box"][1],
                        "bottom": f["box"][3],
                        "confidence": f["score"],
                    }
                    for f in faces
                ],
                "path": _input_path(source),
            }
            for source, faces in zip(inputs.sources, found, strict=True)
        ]
        if visualization:
            results = inputs.entries_with_drawings(results, found, _drawing, output_dir)
        return results

    def _run(
        self, images: list[Image.Image], min_face_size: Any, thresholds: Any, keep_all: bool, batch_size: int
    ) -> list[list[dict[str, Any]]]:
        """The faces of each image, ``batch_size`` images per pass through the cascade."""
        results = []
        for start in range(0, len(images), batch_size):
            for found in self._detect(images[start : start + batch_size], min_face_size, thresholds):
                faces = [_face_dict(found, k) for k in range(len(found.scores))]
                if not keep_all and faces:
                    faces = [
                        max(faces, key=lambda f: (f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]))
                    ]
                results.append(faces)
        return results

    def _detect(self, images: list[Image.Image], min_face_size: Any, thresholds: Any) -> list[Detections]:
        import numpy as np
        import torch

        low, high = MIN_FACE_SIZE_RANGE
        if (
            isinstance(min_face_size, bool)
            or not isinstance(min_face_size, numbers.Real)
            or not low <= min_face_size <= high
        ):
            raise ModuleInputError(
                "min_face_size", f"must be a number of pixels from {low:g} to {high:g}, got {min_face_size!r}"
            )
        if (
            not _is_list(thresholds)
            or len(thresholds) != 3
            or not all(
                isinstance(t, numbers.Real) and not isinstance(t, bool) and 0 <= t <= 1 for t in thresholds
            )
            or thresholds[0] < MIN_PNET_THRESHOLD
        ):
            raise ModuleInputError(
                "thresholds",
                f"must be three numbers in [0, 1], the first at least {MIN_PNET_THRESHOLD}, got {thresholds!r}",
            )
        tensors = [torch.from_numpy(np.array(img)).permute(2, 0, 1).to(self.device) for img in images]
        return self.net.detect(
            tensors,
            min_face_size=float(min_face_size),
            thresholds=tuple(float(t) for t in thresholds),
            factor=float(self.info.config["pyramid_factor"]),
        )


def _drawing(image: Image.Image, faces: list[dict[str, Any]]) -> Image.Image:
    return draw_annotations(
        image,
        boxes=[f["box"] for f in faces],
        points=[p for f in faces for p in f["landmarks"].values()],
        labels=[f"{f['score']:.2f}" for f in faces],
    )


def _face_dict(found: Detections, k: int) -> dict[str, Any]:
    return {
        "box": [round(v, 2) for v in found.boxes[k].tolist()],
        "score": float(found.scores[k]),
        "landmarks": {
            name: [round(v, 2) for v in xy]
            for name, xy in zip(LANDMARK_NAMES, found.landmarks[k].tolist(), strict=True)
        },
    }


def _input_path(source: Any) -> str | None:
    """The file path an input was given as, if it was one."""
    if isinstance(source, (str, Path)) and len(str(source)) < 1024 and Path(source).is_file():
        return str(source)
    return None


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))
