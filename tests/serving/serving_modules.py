"""Small, deterministic modules for serving tests: a text classifier and an image describer."""

from __future__ import annotations

import threading
import time

from finehub.errors import ModuleInputError
from finehub.hub.module import ModuleBase, moduleinfo, runnable, serving
from finehub.imaging.images import ImageLike, load_images


@moduleinfo(
    name="echo-classifier",
    version="1.2.0",
    task="text-classification",
    summary="Labels a text 'long' or 'short' by its length.",
    inputs={"texts": "texts to classify"},
)
class EchoClassifier(ModuleBase):
    """Records every call so tests can see how requests were batched; never runs two calls at once."""

    def __init__(self, *, delay: float = 0.0, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.delay = delay
        self.calls: list[list[str]] = []
        self._busy = threading.Lock()
        self.overlapped = False

    @runnable
    @serving(batch="texts")
    def classify(self, texts: list[str], threshold: int = 5) -> list[dict[str, object]]:
        """Label each text by comparing its length with ``threshold``."""
        if not self._busy.acquire(blocking=False):
            self.overlapped = True
            self._busy.acquire()
        try:
            self.calls.append(list(texts))
            if self.delay:
                time.sleep(self.delay)
            for t in texts:
                if t == "boom":
                    raise ValueError("texts: 'boom' is not a text this module accepts")
                if t == "crash":
                    raise RuntimeError("simulated internal failure")
            return [{"label": "long" if len(t) > threshold else "short", "length": len(t)} for t in texts]
        finally:
            self._busy.release()

    @serving
    def count(self, texts: list[str]) -> int:
        """Number of texts."""
        return len(texts)


@moduleinfo(
    name="image-sizer", version="0.1.0", task="image-classification", summary="Image sizes and a box."
)
class ImageSizer(ModuleBase):
    @runnable
    @serving(batch="images")
    def describe(self, images: list[ImageLike]) -> list[dict[str, object]]:
        """Width, height, a box around the centre of each image, and a detector-style box (left, top,
        right, bottom) in its top-left corner."""
        out = []
        for img in load_images(images):
            w, h = img.size
            corner = {
                "label": "corner",
                "confidence": 0.9,
                "left": 5,
                "top": 5,
                "right": w // 5,
                "bottom": h // 5,
            }
            out.append(
                {"width": w, "height": h, "box": [w // 4, h // 4, 3 * w // 4, 3 * h // 4], "found": [corner]}
            )
        return out


@moduleinfo(name="strict", version="0.1.0", task="test")
class Strict(ModuleBase):
    @runnable
    @serving(batch="texts")
    def check(self, texts: list[str]) -> list[str]:
        """Refuses empty texts."""
        for i, t in enumerate(texts):
            if not t:
                raise ModuleInputError(f"texts[{i}]", "empty text")
        return [t.upper() for t in texts]
