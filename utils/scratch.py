"""Scratch folders for a notebook's throwaway files (checkpoints, weight shards, adapters) that do not pile up.

``tempfile.mkdtemp`` leaves its folder behind for good, and a ``TemporaryDirectory`` is removed only when Python
exits normally: a kernel that is killed (a crash, running out of memory, a test runner that stops kernels with
SIGKILL) leaves it too. Notebook 11 writes about 600 MB of shards per run, so a few runs fill a small disk.

``scratch_folder("11")`` makes a fresh folder ``llm-retreat-11-XXXXXXXX`` in the system's temporary directory, records
the process that owns it, and removes it when that process exits. Before making it, it removes the folders with the
same name whose owner is no longer running: whatever a killed kernel left behind is cleaned by the next run. Folders
of a process that is still running (the same notebook open twice) are left alone.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path

PREFIX = "llm-retreat-"
OWNER_FILE = ".owner-pid"
NAME = re.compile(r"[A-Za-z0-9_.]+")


def _running(pid: int) -> bool:
    """True when a process with this id exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_folders(name: str, root: Path | None = None) -> list[Path]:
    """The scratch folders of ``name`` whose owning process has exited. A folder without an owner file is not
    listed: it may be one that another process has just made and not yet signed."""
    root = Path(root or tempfile.gettempdir())
    stale = []
    for folder in sorted(root.glob(f"{PREFIX}{name}-*")):
        owner = folder / OWNER_FILE
        try:
            pid = int(owner.read_text().strip())
        except (OSError, ValueError):
            continue
        if not _running(pid):
            stale.append(folder)
    return stale


def scratch_folder(name: str) -> Path:
    """A new empty folder for throwaway files, removed when this process exits; first removes the folders
    of the same ``name`` left behind by processes that were killed."""
    if not NAME.fullmatch(name):
        raise ValueError(f"scratch folder name must be letters, digits, '_' or '.', e.g. '11'; got {name!r}")
    for folder in stale_folders(name):
        shutil.rmtree(folder, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{name}-"))
    (folder / OWNER_FILE).write_text(str(os.getpid()))
    atexit.register(shutil.rmtree, folder, True)
    return folder
