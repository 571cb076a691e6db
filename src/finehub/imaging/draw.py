"""Drawing detection results on an image, for the ``visualize=True`` option of vision modules.

Kept generic: axis-aligned boxes, polygons, points and short labels, in pixel coordinates with the
origin at the image's top-left corner. The input image is never modified; a copy is returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub._utils.fs import atomic_path

if TYPE_CHECKING:
    from PIL import Image

Point = Sequence[float]
Color = tuple[int, int, int]

GREEN: Color = (0, 220, 0)
RED: Color = (230, 30, 30)


def draw_annotations(
    image: Image.Image,
    *,
    boxes: Sequence[Sequence[float]] = (),
    polygons: Sequence[Sequence[Point]] = (),
    points: Sequence[Point] = (),
    labels: Sequence[str] = (),
    color: Color = GREEN,
    point_color: Color = RED,
) -> Image.Image:
    """A copy of ``image`` with boxes (x1, y1, x2, y2), closed polygons, dots and labels drawn.

    ``labels[i]`` is written at the top-left corner of ``boxes[i]`` (or of ``polygons[i]`` when no
    boxes are given). Line width and font size scale with the image so marks stay visible.
    """
    from PIL import ImageDraw, ImageFont

    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    width = max(1, round(max(out.size) / 300))
    for box in boxes:
        draw.rectangle([float(v) for v in box[:4]], outline=color, width=width)
    for polygon in polygons:
        draw.polygon([(float(x), float(y)) for x, y in polygon], outline=color, width=width)
    radius = width + 1
    for x, y in points:
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=point_color)
    anchors = [(b[0], b[1]) for b in boxes] or [min(p, key=lambda q: (q[1], q[0])) for p in polygons]
    font = ImageFont.load_default(size=max(10, 4 * width + 6))
    for label, (x, y) in zip(labels, anchors, strict=False):
        left, top, right, bottom = draw.textbbox((float(x), float(y)), label, font=font, anchor="lb")
        draw.rectangle([left, top, right, bottom], fill=color)
        draw.text((float(x), float(y)), label, fill=(0, 0, 0), font=font, anchor="lb")
    return out


def output_name(source: Any, index: int) -> str:
    """A file stem for the visualisation of input ``index``: the input file's stem when the input
    was a path, ``image_<index>`` otherwise."""
    if isinstance(source, (str, Path)) and len(str(source)) < 1024:
        path = Path(source).expanduser()
        if path.is_file():
            return f"{path.stem}_{index}"
    return f"image_{index}"


def save_image(image: Image.Image, output_dir: str | Path, stem: str) -> Path:
    """Write ``image`` as ``output_dir/stem.png`` atomically; the folder is created if needed."""
    target = Path(output_dir) / f"{stem}.png"
    with atomic_path(target) as tmp:
        image.save(tmp, format="PNG")
    return target
