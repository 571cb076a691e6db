"""Whether a process is still running, for pid files and trial heartbeats."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie (exited, not yet reaped by its parent).

    A process owned by another user counts as alive. Where ``/proc`` is missing (not Linux) a
    zombie cannot be told apart and counts as alive.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # the state follows the command name, which is in parentheses and may itself hold ")"
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
