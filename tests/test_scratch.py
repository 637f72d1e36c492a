"""utils.scratch: a notebook's throwaway folder goes away when its kernel exits, and a killed kernel's folder is removed
by the next run, never a folder whose owner is still running."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from utils.scratch import OWNER_FILE, scratch_folder, stale_folders

ROOT = Path(__file__).resolve().parents[1]

# a child process that makes a scratch folder with a file in it, prints the folder and then waits or exits
CHILD = """
import sys, time
from utils.scratch import scratch_folder
folder = scratch_folder("t")
(folder / "weights.bin").write_bytes(b"0" * 1000)
print(folder, flush=True)
if sys.argv[1] == "wait":
    time.sleep(60)
"""


@pytest.fixture
def temp_root(tmp_path, monkeypatch):
    """The system's temporary directory, for this process and its children, is an empty folder of this test."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def start_child(mode: str) -> tuple[subprocess.Popen, Path]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode], cwd=ROOT, stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    return child, Path(child.stdout.readline().strip())


def test_a_folder_is_removed_when_its_process_exits(temp_root):
    child, folder = start_child("exit")
    assert child.wait(timeout=60) == 0
    assert folder.parent == temp_root and folder.name.startswith("llm-retreat-t-")
    assert not folder.exists()


def test_a_killed_process_folder_is_removed_by_the_next_run_and_a_live_one_is_kept(temp_root):
    killed, killed_folder = start_child("wait")
    alive, alive_folder = start_child("wait")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=60)
        assert (killed_folder / "weights.bin").is_file()  # SIGKILL: no exit handler ran
        unsigned = temp_root / "llm-retreat-t-unsigned"  # just made by another process, not yet signed
        unsigned.mkdir()
        other_name = temp_root / "llm-retreat-u-x"
        other_name.mkdir()
        (other_name / OWNER_FILE).write_text(str(killed.pid))
        assert stale_folders("t") == [killed_folder]

        mine = scratch_folder("t")

        assert not killed_folder.exists()
        assert (alive_folder / "weights.bin").is_file()
        assert unsigned.is_dir() and other_name.is_dir()
        assert mine.is_dir() and list(mine.iterdir()) == [mine / OWNER_FILE]
        assert int((mine / OWNER_FILE).read_text()) == os.getpid()
    finally:
        alive.kill()
        alive.wait(timeout=60)


@pytest.mark.parametrize("name", ["", "../x", "a/b", "11 "])
def test_a_name_that_is_not_a_plain_word_is_refused(name, temp_root):
    with pytest.raises(ValueError, match="scratch folder name"):
        scratch_folder(name)
    assert list(temp_root.iterdir()) == []
