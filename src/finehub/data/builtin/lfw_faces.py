"""``lfw-faces``: 200 small grey images, faces or not, from scikit-image's ``data.lfw_subset()``.

The images ship inside scikit-image (nothing is downloaded): 25×25 crops, the first 100 faces
from Labeled Faces in the Wild, the other 100 non-face patches. They are stored as H×W uint8
arrays with classes ``["non-face", "face"]`` and dealt 80/10/10 into train/dev/test
(160 / 20 / 20), stratified, with a fixed seed.
"""

from __future__ import annotations

from finehub._utils.lazy import require
from finehub.data.builtin._common import SPLIT_RATIOS
from finehub.data.dataset import Dataset, split_examples
from finehub.data.examples_extra import ImageExample
from finehub.data.registry import register_dataset

LABEL_NAMES = ["non-face", "face"]
FACES = 100  # lfw_subset(): images [0, 100) are faces, [100, 200) are not


@register_dataset("lfw-faces")
def lfw_faces(*, seed: int = 0) -> Dataset:
    import numpy as np

    sk_data = require(
        "skimage.data", package="scikit-image", extra="datasets", feature="The 'lfw-faces' dataset"
    )
    images = sk_data.lfw_subset()
    examples = [
        ImageExample(np.round(img * 255).astype(np.uint8), int(i < FACES)) for i, img in enumerate(images)
    ]
    return Dataset("lfw-faces", split_examples(examples, SPLIT_RATIOS, seed=seed), LABEL_NAMES)
