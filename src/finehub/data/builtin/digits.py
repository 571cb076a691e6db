"""``digits``: scikit-learn's 1,797 handwritten digits (8×8 grey, 0-16 levels), ten classes.

Read with ``sklearn.datasets.load_digits`` (bundled with scikit-learn, nothing is downloaded).
Each image is scaled to 0-255 and upscaled 4× to 32×32 with bilinear interpolation, then stored
as an H×W uint8 array; the classes are ``"0"`` ... ``"9"``. Dealt 80/10/10 into train/dev/test
(1,437 / 180 / 180), stratified, with a fixed seed.
"""

from __future__ import annotations

from finehub._utils.lazy import require
from finehub.data.builtin._common import SPLIT_RATIOS
from finehub.data.dataset import Dataset, split_examples
from finehub.data.examples_extra import ImageExample
from finehub.data.registry import register_dataset

UPSCALE = 4


@register_dataset("digits")
def digits(*, seed: int = 0) -> Dataset:
    import numpy as np
    from PIL import Image

    sk_datasets = require(
        "sklearn.datasets", package="scikit-learn", extra="datasets", feature="The 'digits' dataset"
    )
    data = sk_datasets.load_digits()
    examples = []
    for pixels, target in zip(data.images, data.target, strict=True):
        grey = Image.fromarray(np.round(pixels * (255 / 16)).astype(np.uint8), mode="L")
        big = grey.resize((8 * UPSCALE, 8 * UPSCALE), Image.Resampling.BILINEAR)
        examples.append(ImageExample(np.asarray(big), int(target)))
    return Dataset("digits", split_examples(examples, SPLIT_RATIOS, seed=seed), [str(d) for d in range(10)])
