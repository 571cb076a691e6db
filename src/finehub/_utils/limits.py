"""Limits a caller sets for work done far below it, for the length of a ``with`` block.

Each is a ContextVar, so it holds in the thread or task that enters the block and nowhere else:
``finehub serve`` wraps every module call in them with its config's values, and a library user can
do the same around their own calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TypeVar

from finehub.errors import ConfigError

T = TypeVar("T")

#: Largest encoded image decoded (width × height) outside any :func:`max_image_pixels` block.
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000
_image_pixels: ContextVar[int] = ContextVar("finehub_max_image_pixels", default=DEFAULT_MAX_IMAGE_PIXELS)


@contextlib.contextmanager
def max_image_pixels(limit: int) -> Iterator[None]:
    """Decode encoded images (bytes, base64, files) of at most ``limit`` pixels inside this block;
    larger ones raise ModuleInputError naming the field and the limit.

    The size comes from the file's header, so a small file declaring a huge image (a decompression
    bomb) is refused before its pixels are allocated. PIL's own cap (about 179 megapixels) still
    applies above the limit.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError("max_image_pixels", f"must be a positive integer, got {limit!r}")
    with _holding(_image_pixels, limit):
        yield


def image_pixel_limit() -> int:
    """The image size limit in force here, in pixels."""
    return _image_pixels.get()


_file_paths: ContextVar[bool] = ContextVar("finehub_file_paths", default=True)


@contextlib.contextmanager
def no_file_paths() -> Iterator[None]:
    """Inside this block, inputs are never read from the local file system: a string given as an
    image is base64 data, never a path. ``finehub serve`` runs every module call this way, so a
    client cannot make the server open its own files, whatever a method's signature says."""
    with _holding(_file_paths, False):
        yield


def file_paths_allowed() -> bool:
    return _file_paths.get()


@contextlib.contextmanager
def _holding(var: ContextVar[T], value: T) -> Iterator[None]:
    """``var`` set to ``value`` for the block, then back to what it was."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)
