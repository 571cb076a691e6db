"""pid_alive: running, exited-but-unreaped (zombie) and reaped processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from finehub._utils.process import pid_alive


def test_a_running_process_is_alive() -> None:
    assert pid_alive(os.getpid())


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="zombies are told apart through /proc")
def test_an_exited_child_is_dead_before_and_after_it_is_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while pid_alive(child.pid):  # a zombie until reaped: counts as gone
        assert time.monotonic() < deadline, "the exited child still reads as alive"
        time.sleep(0.05)
    assert child.wait(timeout=30) == 0
    assert not pid_alive(child.pid)
