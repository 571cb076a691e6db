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

from finehub.data.draw import draw_annotations, output_name, save_image
from finehub.data.images import ImageLike, load_images
from finehub.errors import ModuleInputError
from finehub.hub.module import Asset, ModuleBase, moduleinfo, runnable, serving
from finehub.modules._common import package_asset_path

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


@moduleinfo(
    name="face-detection-mtcnn",
    version="1.0.0",
    task="face-detection",
    summary="MTCNN face detector (P-Net/R-Net/O-Net cascade): face boxes, confidences and five facial landmarks.",
    license="MIT",
    author="finehub; weights from facenet-pytorch (Tim Esler), after Zhang et al., MTCNN (2016)",
    tags=("vision", "face", "detection", "landmarks", "mtcnn"),
    inputs={
        "images": "list of images: file paths, PIL images, H×W×3 uint8 RGB arrays, encoded bytes or base64"
    },
    outputs={
        "faces": "per image, a list of {box: [x1, y1, x2, y2], score, landmarks: {left_eye, right_eye, nose, "
        "mouth_left, mouth_right: [x, y]}} sorted by decreasing score; pixel coordinates, origin top-left"
    },
    finehub=">=0.1,<1",
    requirements=("torch>=2.2", "pillow>=10.1"),
    assets=_ASSETS,
    config={
        # The weights' package pins an old torch/torchvision, so it is installed without dependencies.
        "weights_install": "pip install --no-deps facenet-pytorch==2.6.0",
        "pyramid_factor": 0.709,
    },
)
class FaceDetectionMTCNN(ModuleBase):
    """Finds faces of any size down to ``min_face_size`` pixels; runs on CPU or a CUDA device."""

    def __init__(self, *, directory: str | Path | None = None, device: str = "cpu", **init_args: Any) -> None:
        super().__init__(directory=directory, **init_args)
        import torch

        from finehub.hub.weights import convert_pinned_pickle, load_state_dict
        from finehub.nn.mtcnn import MTCNN

        self.device = torch.device(device)
        self.net: MTCNN = MTCNN()
        for asset in self.info.assets:
            stem = Path(asset.path).stem
            tensors = load_state_dict(
                convert_pinned_pickle(
                    package_asset_path(
                        asset, module=self.info.name, install=self.info.config["weights_install"]
                    ),
                    asset.sha256,
                    key=f"{self.info.name}/{self.info.version}",
                )
            )
            getattr(self.net, stem).load_state_dict(tensors, strict=True)
        self.net.eval().to(self.device)

    @runnable
    @serving(batch="images", exclude=("visualize", "output_dir"))
    def detect_faces(
        self,
        images: ImageLike | Sequence[ImageLike],
        min_face_size: float = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        keep_all: bool = True,
        visualize: bool = False,
        output_dir: str | Path = "detection_result",
    ) -> list[list[dict[str, Any]]]:
        """Faces in each image (a list per image, in input order).

        ``thresholds`` are the P-Net, R-Net and O-Net score cut-offs; ``keep_all=False`` keeps only the
        largest face of each image. With ``visualize=True`` an annotated PNG per image is written to
        ``output_dir`` and each face dict gets its path as ``"save_path"``.
        """
        return [
            [{**face, "save_path": str(path)} for face in faces] if path else faces
            for faces, path in self._run(images, min_face_size, thresholds, keep_all, visualize, output_dir)
        ]

    def face_detection(
        self,
        images: Sequence[Any] | None = None,
        paths: Sequence[str] | None = None,
        data: dict[str, Sequence[Any]] | None = None,
        use_gpu: bool = False,
        visualization: bool = False,
        output_dir: str = "detection_result",
        confs_threshold: float = 0.7,
    ) -> list[dict[str, Any]]:
        """PaddleHub's call: ``data={"image": [...]}``, ``paths=[...]`` or ``images=[arrays]``.

        Returns per image ``{"data": [{"left", "right", "top", "bottom", "confidence"}], "path": ...}``
        (``path`` is the input path, or None for in-memory images; ``save_path`` is added with
        ``visualization=True``). ``confs_threshold`` is the final (O-Net) score cut-off. As in
        PaddleHub, arrays in ``images`` are BGR (``cv2.imread`` order); ``detect_faces`` takes RGB.
        """
        if use_gpu and self.device.type != "cuda":
            raise ModuleInputError(
                "use_gpu", f"this module runs on {self.device}; create it with device='cuda' to use a GPU"
            )
        arrays = [a[..., ::-1] if getattr(a, "ndim", 0) == 3 else a for a in images or ()]  # BGR -> RGB
        inputs = [*arrays, *(paths or ()), *((data or {}).get("image") or ())]
        if not inputs:
            raise ModuleInputError(
                "data", 'no images given; pass data={"image": [...]}, paths=[...] or images=[...]'
            )
        found = self._run(inputs, 20, (0.6, 0.7, confs_threshold), True, visualization, output_dir)
        results = []
        for source, (faces, save_path) in zip(inputs, found, strict=True):
            entry: dict[str, Any] = {
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
            if save_path:
                entry["save_path"] = str(save_path)
            results.append(entry)
        return results

    def _run(
        self,
        images: Any,
        min_face_size: Any,
        thresholds: Any,
        keep_all: bool,
        visualize: bool,
        output_dir: str | Path,
    ) -> list[tuple[list[dict[str, Any]], Path | None]]:
        """(faces, path of the visualisation or None) per image."""
        pil_images = load_images(images)
        detections = self._detect(pil_images, min_face_size, thresholds)
        results = []
        for index, (image, found) in enumerate(zip(pil_images, detections, strict=True)):
            faces = [_face_dict(found, k) for k in range(len(found.scores))]
            if not keep_all and faces:
                faces = [max(faces, key=lambda f: (f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]))]
            path = None
            if visualize:
                source = images[index] if _is_list(images) else images
                path = self._save_visualization(image, faces, output_dir, output_name(source, index))
            results.append((faces, path))
        return results

    def _detect(self, images: list[Image.Image], min_face_size: Any, thresholds: Any) -> list[Detections]:
        import numpy as np
        import torch

        if (
            isinstance(min_face_size, bool)
            or not isinstance(min_face_size, numbers.Real)
            or not min_face_size > 0
        ):
            raise ModuleInputError(
                "min_face_size", f"must be a positive number of pixels, got {min_face_size!r}"
            )
        if (
            not _is_list(thresholds)
            or len(thresholds) != 3
            or not all(
                isinstance(t, numbers.Real) and not isinstance(t, bool) and 0 <= t <= 1 for t in thresholds
            )
        ):
            raise ModuleInputError("thresholds", f"must be three numbers in [0, 1], got {thresholds!r}")
        tensors = [torch.from_numpy(np.array(img)).permute(2, 0, 1).to(self.device) for img in images]
        return self.net.detect(
            tensors,
            min_face_size=float(min_face_size),
            thresholds=tuple(float(t) for t in thresholds),
            factor=float(self.info.config["pyramid_factor"]),
        )

    def _save_visualization(
        self, image: Image.Image, faces: list[dict[str, Any]], output_dir: str | Path, stem: str
    ) -> Path:
        drawn = draw_annotations(
            image,
            boxes=[f["box"] for f in faces],
            points=[p for f in faces for p in f["landmarks"].values()],
            labels=[f"{f['score']:.2f}" for f in faces],
        )
        return save_image(drawn, output_dir, stem)


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
