"""Turning whatever a user passes as "an image" into a PIL RGB image.

Accepted: a filesystem path (str or Path), a ``PIL.Image``, a numpy array (H×W or H×W×3/4,
uint8, RGB order), raw encoded bytes, or a base64 string of encoded bytes (with or without a
``data:image/...;base64,`` prefix). URLs are refused: finehub never fetches an image on its own.
Encoded images larger than 40 megapixels are refused; :func:`max_image_pixels` changes that.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from finehub._utils.limits import file_paths_allowed, image_pixel_limit
from finehub._utils.limits import max_image_pixels as max_image_pixels  # the size limit, re-exported
from finehub.errors import ModuleInputError

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

ImageLike = Union[str, Path, bytes, "Image.Image", "np.ndarray"]


def load_image(item: Any, *, field: str = "image") -> Image.Image:
    """One image as PIL RGB; raises ModuleInputError naming ``field`` when it is not an image."""
    from PIL import Image

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, Path):
        if not file_paths_allowed():
            raise ModuleInputError(field, "file paths are not read here; send the image as base64")
        return _open_path(item, field)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return _decode(bytes(item), field)
    if isinstance(item, str):
        if item.startswith(("http://", "https://", "ftp://")):
            raise ModuleInputError(field, "URLs are not fetched; pass a local path, bytes or a base64 string")
        if item.startswith("data:"):
            _, _, item = item.partition(",")
            return _decode(_b64(item, field), field)
        if not file_paths_allowed():
            return _decode(_b64(item, field), field)
        if len(item) < 1024 and Path(item).expanduser().exists():
            return _open_path(Path(item).expanduser(), field)
        if len(item) < 256 and ("/" in item or "." in item[-6:]):
            raise ModuleInputError(field, f"no such file: {item!r}")
        return _decode(_b64(item, field), field)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with torch
        np = None
    if np is not None and isinstance(item, np.ndarray):
        return _from_array(item, field)
    raise ModuleInputError(
        field, f"expected a path, PIL image, numpy array, bytes or base64 string, got {type(item).__name__}"
    )


def load_images(items: ImageLike | Sequence[ImageLike], *, field: str = "images") -> list[Image.Image]:
    """A list of images; a single image is accepted and wrapped."""
    if isinstance(items, (str, Path, bytes, bytearray)) or not isinstance(items, Sequence):
        try:
            import numpy as np

            if isinstance(items, np.ndarray) and items.ndim == 4:
                return [load_image(x, field=f"{field}[{i}]") for i, x in enumerate(items)]
        except ImportError:  # pragma: no cover
            pass
        items = [items]  # type: ignore[list-item]
    if len(items) == 0:
        raise ModuleInputError(field, "no images given")
    return [load_image(x, field=f"{field}[{i}]") for i, x in enumerate(items)]


def _open_path(path: Path, field: str) -> Image.Image:
    if not path.is_file():
        raise ModuleInputError(field, f"no such file: {str(path)!r}")
    return _decode(path.read_bytes(), field, what=str(path))


def _b64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ModuleInputError(field, "not a file path and not valid base64") from e


def _decode(data: bytes, field: str, what: str = "data") -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    limit = image_pixel_limit()
    try:
        img = Image.open(io.BytesIO(data))  # reads the header only
        if img.width * img.height <= limit:
            img.load()
    except Image.DecompressionBombError as e:  # PIL's own cap, checked while opening
        raise ModuleInputError(
            field, f"{what} is too large to decode ({e}); the limit is max_image_pixels={limit}"
        ) from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ModuleInputError(field, f"{what} is not a readable image ({e.__class__.__name__})") from e
    if img.width * img.height > limit:
        raise ModuleInputError(
            field,
            f"{what} is a {img.width}×{img.height} image ({img.width * img.height} pixels), more than "
            f"max_image_pixels={limit}; send a smaller image",
        )
    return img.convert("RGB")


def _from_array(arr: np.ndarray, field: str) -> Image.Image:
    import numpy as np
    from PIL import Image

    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ModuleInputError(field, f"array of shape {arr.shape} is not H×W, H×W×3 or H×W×4")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(arr.max()) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr[..., :3]), mode="RGB")
