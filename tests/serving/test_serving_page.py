"""The try-it page in real headless Chromium: text in, JSON out; an image in, boxes drawn."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from serving.serving_modules import EchoClassifier, ImageSizer
from serving.serving_support import live_server

from finehub.serving.app import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent (apt-get install chromium)"
    ),
]


def test_try_it_page(tmp_path: Path) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright (a dev dependency) is not installed"
    )
    from PIL import Image

    picture = tmp_path / "picture.png"
    Image.new("RGB", (200, 100), (255, 255, 255)).save(picture)
    app = create_app({"echo": EchoClassifier(), "img": ImageSizer()})
    with live_server(app) as (url, _), sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready='1']")
            assert page.locator("#module option").all_inner_texts() == ["echo 1.2.0", "img 0.1.0"]
            assert page.locator("#method").input_value() == "classify"

            page.fill("#p-texts", "hi\na much longer text")
            page.click("#run")
            page.wait_for_selector("#status.ok")
            output = page.locator("#output").inner_text()
            assert (
                '"status": "000"' in output and '"label": "long"' in output and '"label": "short"' in output
            )

            page.select_option("#module", "img")
            page.set_input_files("#p-images", str(picture))
            page.wait_for_function(
                "document.getElementById('preview-images').textContent.includes('1 image')"
            )
            page.click("#run")
            page.wait_for_selector("#canvases canvas.overlay")
            assert '"width": 200' in page.locator("#output").inner_text()
            # the box [50, 25, 150, 75] is stroked in red over the white image; its inside stays white
            pixels = page.evaluate(
                """() => { const c = document.querySelector('#canvases canvas').getContext('2d');
                   const at = (x, y) => Array.from(c.getImageData(x, y, 1, 1).data.slice(0, 3));
                   return {edge: at(100, 25), inside: at(100, 50), corner: at(20, 5),
                           size: [c.canvas.width, c.canvas.height]}; }"""
            )
            assert pixels["size"] == [200, 100]
            assert (
                pixels["corner"][0] > 200 and pixels["corner"][1] < 80
            )  # the {left, top, right, bottom} box
            assert pixels["edge"][0] > 200 and pixels["edge"][1] < 80 and pixels["edge"][2] < 80
            assert pixels["inside"] == [255, 255, 255]
            page.screenshot(path=str(tmp_path / "try-it.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
