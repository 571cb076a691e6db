"""The public names in ``finehub`` resolve, and importing finehub stays light."""

from __future__ import annotations

import subprocess
import sys

import finehub


def test_every_lazy_export_resolves() -> None:
    missing = [name for name in finehub._LAZY if getattr(finehub, name, None) is None]
    assert missing == []
    assert finehub.TextClassifierTask is finehub.TextClassificationTask  # PaddleHub's alias


def test_import_finehub_and_cli_do_not_import_torch() -> None:
    code = (
        "import sys, finehub, finehub.cli.main; "
        "heavy = [m for m in ('torch', 'transformers', 'fastapi', 'optuna', 'onnxruntime', 'numpy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
