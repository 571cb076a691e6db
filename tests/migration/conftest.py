"""Fixtures for PaddleHub migration tests: real built-in modules, a tiny sentiment classifier
exported in finehub's format, and the result examples MIGRATING.md documents."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

MIGRATING = Path(__file__).resolve().parents[2] / "MIGRATING.md"


def documented_examples() -> dict[str, object]:
    """MIGRATING.md's result examples, by method name (the `name` just before each json block)."""
    text = MIGRATING.read_text(encoding="utf-8")
    found = re.findall(r"^`(\w+)`[^\n]*:\n\n```json\n(.*?)\n```", text, flags=re.M | re.S)
    return {name: json.loads(body) for name, body in found}


@pytest.fixture(scope="session")
def sentiment(tmp_path_factory):
    """A two-class text classifier with negative/positive labels, exported and loaded back."""
    from finetune.finetune_support import tiny_backbone

    import finehub.finetune as ft
    from finehub.finetune.export import export_folder
    from finehub.modules.text_classifier import TextClassifier

    task = ft.TextClassificationTask(
        tiny_backbone(), num_classes=2, max_seq_len=16, label_names=["negative", "positive"]
    )
    folder = export_folder(task, tmp_path_factory.mktemp("clf") / "m", name="sentiment-zh", version="1.0.0")
    return TextClassifier(directory=folder)
