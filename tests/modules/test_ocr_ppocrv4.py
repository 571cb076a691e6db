"""ocr-ppocrv4 with the real PP-OCRv4 models, on text the tests render themselves and on
scikit-image's photographed page."""

from __future__ import annotations

import glob
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from finehub.errors import AssetPackageMissingError, IntegrityError, ModuleInputError
from finehub.hub.module import Asset
from finehub.modules.ocr_ppocrv4 import OCRPPOCRv4

ENGLISH = [
    "The quick brown fox jumps over the lazy dog.",
    "Invoice date: 2026-11-28 15:30",
    "Total: $1,234.56 (paid in full)",
    "Hello, world! How are you today?",
    "Email: support@example.com",
    "Room 404, Floor 7; Building B",
    "PyTorch 2.13 runs on Linux.",
    "Order #A-1029 shipped 2026-12-01",
    "3.14159 2.71828 1.41421",
    "Call +1 (555) 010-9999 now!",
]
CHINESE = ["今天天气很好，我们去公园散步。", "北京市海淀区中关村大街27号", "人工智能让生活更美好"]


def find_font(patterns: list[str]) -> str | None:
    for pattern in patterns:
        hits = sorted(glob.glob(pattern, recursive=True))
        if hits:
            return hits[0]
    return None


def latin_font() -> str:
    spec = importlib.util.find_spec("matplotlib")
    bundled = (
        [f"{loc}/mpl-data/fonts/ttf/DejaVuSans.ttf" for loc in (spec.submodule_search_locations or [])]
        if spec
        else []
    )
    found = find_font(["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", *bundled])
    if found is None:
        pytest.skip("no DejaVuSans.ttf: install fonts-dejavu-core (Debian) or matplotlib")
    return found


def cjk_font() -> str:
    found = find_font(
        [
            "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
            "/usr/share/fonts/**/NotoSansCJK*.ttc",
            "/usr/share/fonts/**/*CJK*.tt[cf]",
            "/usr/share/fonts/**/*wqy*.tt[cf]",
        ]
    )
    if found is None:
        pytest.skip("no CJK font file found: install the Debian package fonts-wqy-zenhei (or fonts-noto-cjk)")
    return found


def render(lines: list[str], font_path: str, size: int = 28) -> tuple[Image.Image, list[tuple[float, ...]]]:
    """Black lines on white; also returns each line's ink bounding box (x0, y0, x1, y1), read from
    the pixels."""
    font = ImageFont.truetype(font_path, size)
    pad, step = 40, size + 24
    width = max(int(font.getlength(line)) for line in lines) + 2 * pad
    image = Image.new("RGB", (width, 2 * pad + len(lines) * step), "white")
    draw = ImageDraw.Draw(image)
    bands = []
    for i, line in enumerate(lines):
        draw.text((pad, pad + i * step), line, fill="black", font=font)
        bands.append(draw.textbbox((pad, pad + i * step), line, font=font))
    dark = np.asarray(image.convert("L")) < 128
    boxes = []
    for _, top, _, bottom in bands:
        ys, xs = np.nonzero(dark[top : bottom + 1])
        boxes.append((xs.min(), top + ys.min(), xs.max() + 1, top + ys.max() + 1))
    return image, boxes


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def scores(texts: list[str], truth: list[str]) -> tuple[float, float, float]:
    """(exact-match rate, exact rate ignoring spaces, character error rate)."""
    exact = np.mean([t == g for t, g in zip(texts, truth, strict=True)])
    loose = np.mean([t.replace(" ", "") == g.replace(" ", "") for t, g in zip(texts, truth, strict=True)])
    cer = sum(edit_distance(t, g) for t, g in zip(texts, truth, strict=True)) / sum(len(g) for g in truth)
    return float(exact), float(loose), cer


def polygon_bounds(box: list[list[int]]) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in box], [p[1] for p in box]
    return min(xs), min(ys), max(xs), max(ys)


@pytest.fixture(scope="module")
def ocr() -> OCRPPOCRv4:
    return OCRPPOCRv4()


def test_english_lines_digits_and_punctuation(ocr: OCRPPOCRv4) -> None:
    image, ink = render(ENGLISH, latin_font())
    [lines] = ocr.ocr([image])
    texts = [line["text"] for line in lines]
    assert len(texts) == len(ENGLISH)
    exact, loose, cer = scores(texts, ENGLISH)
    print(f"English, DejaVuSans 28 px: exact {exact:.0%}, ignoring spaces {loose:.0%}, CER {cer:.1%}")
    for text, truth in zip(texts, ENGLISH, strict=True):
        if text != truth:
            print(f"  {text!r} <- {truth!r}")
    # Measured: 90% exact (one dropped space), 100% ignoring spaces, CER 0.3%.
    assert exact >= 0.7
    assert loose >= 0.9
    assert cer <= 0.02
    # Each box covers its line's ink, in the input image's coordinates.
    for line, (x0, y0, x1, y1) in zip(lines, ink, strict=True):
        bx0, by0, bx1, by1 = polygon_bounds(line["box"])
        assert bx0 <= x0 + 3 and by0 <= y0 + 3 and bx1 >= x1 - 3 and by1 >= y1 - 3
        assert bx0 >= x0 - 10 and by0 >= y0 - 10 and bx1 <= x1 + 10 and by1 <= y1 + 10
        assert 0.5 < line["confidence"] <= 1.0


def test_reading_order_rows_then_columns(ocr: OCRPPOCRv4) -> None:
    font = ImageFont.truetype(latin_font(), 30)
    image = Image.new("RGB", (640, 260), "white")
    draw = ImageDraw.Draw(image)
    # Drawn out of order, with the right-hand words a few pixels lower than the left-hand ones.
    for word, xy in [
        ("Cherry", (40, 150)),
        ("Banana", (380, 46)),
        ("Grape", (390, 156)),
        ("Apple", (40, 40)),
    ]:
        draw.text(xy, word, fill="black", font=font)
    [lines] = ocr.ocr([image])
    assert [line["text"] for line in lines] == ["Apple", "Banana", "Cherry", "Grape"]


def test_skimage_page(ocr: OCRPPOCRv4) -> None:
    [lines] = ocr.ocr([data.page()])
    texts = [line["text"] for line in lines]
    print("page():", texts)
    assert texts[0] == "Region-based segmentation"
    joined = " ".join(texts)
    for word in ("markers", "coins", "background", "unambiguously", "histogram", "grey"):
        assert word in joined


def test_chinese_line(ocr: OCRPPOCRv4) -> None:
    image, _ = render(CHINESE, cjk_font(), size=32)
    [lines] = ocr.ocr([image])
    texts = [line["text"] for line in lines]
    exact, _, cer = scores(texts, CHINESE) if len(texts) == len(CHINESE) else (0.0, 0.0, 1.0)
    print(f"Chinese ({Path(cjk_font()).name}): {texts}, exact {exact:.0%}, CER {cer:.1%}")
    assert exact >= 2 / 3
    assert cer <= 0.05


def test_angle_classifier_reads_upside_down_text(ocr: OCRPPOCRv4) -> None:
    truth = ENGLISH[:3]
    image, _ = render(truth, latin_font(), size=32)
    flipped = image.rotate(180)
    [upright] = ocr.ocr([flipped], use_angle_cls=True)
    texts = [line["text"] for line in upright]
    assert len(texts) == 3
    _, loose, cer = scores(texts, truth[::-1])  # turned over, the last line comes first
    assert loose >= 2 / 3 and cer <= 0.05
    [as_is] = ocr.ocr([flipped], use_angle_cls=False)
    assert not any(line["text"].replace(" ", "") in {t.replace(" ", "") for t in truth} for line in as_is)


def test_batch_blank_image_and_visualize(ocr: OCRPPOCRv4, tmp_path: Path) -> None:
    image, _ = render(ENGLISH[:2], latin_font())
    blank = np.full((120, 300, 3), 255, np.uint8)
    path = tmp_path / "two lines.png"
    image.save(path)
    results = ocr.ocr([str(path), blank], visualize=True, output_dir=tmp_path / "out")
    assert results[1] == []
    assert [line["text"] for line in results[0]] == [line["text"] for line in ocr.ocr(image)[0]]
    saved = Path(results[0][0]["save_path"])
    assert saved == tmp_path / "out" / "two lines_0.png"
    assert Image.open(saved).size == image.size
    assert (tmp_path / "out" / "image_1.png").is_file()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"images": []}, "images"),
        ({"images": [b"\x89PNG broken"]}, "images[0]"),
        ({"images": [42]}, "images[0]"),
        ({"images": [np.zeros((40, 40, 3), np.uint8)], "box_threshold": 1.5}, "box_threshold"),
        ({"images": [np.zeros((40, 40, 3), np.uint8)], "text_threshold": "high"}, "text_threshold"),
        ({"images": [np.zeros((2, 1000, 3), np.uint8)]}, "images[0]"),
    ],
)
def test_bad_input_is_a_module_input_error(ocr: OCRPPOCRv4, kwargs: dict, field: str) -> None:
    with pytest.raises(ModuleInputError) as info:
        ocr.ocr(**kwargs)
    assert info.value.field == field


def test_model_files_are_pinned(ocr: OCRPPOCRv4, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "fake_models_pkg"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models" / "det.onnx").write_bytes(b"not the pinned model")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(IntegrityError):
        ocr._verified_file(Asset("fake_models_pkg/models/det.onnx", ocr.info.assets[0].sha256))
    with pytest.raises(AssetPackageMissingError, match="pip install --no-deps rapidocr-onnxruntime"):
        ocr._verified_file(Asset("no_such_models_pkg/models/det.onnx", "0" * 64))
    sys.modules.pop("fake_models_pkg", None)
