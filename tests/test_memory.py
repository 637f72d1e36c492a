"""utils.memory: resident memory split into anonymous and file-backed pages (notebook 08 relies on it)."""

import mmap
import subprocess
import sys
import types
from pathlib import Path

import pytest

from utils import memory
from utils.memory import MemorySnapshot, MemorySplitUnavailable, memory_snapshot, parse_proc_status

STATUS = """Name:\tpython
VmPeak:\t  500000 kB
VmRSS:\t  150000 kB
RssAnon:\t   90000 kB
RssFile:\t   59000 kB
RssShmem:\t    1000 kB
Threads:\t4
"""
REPO = Path(__file__).resolve().parents[1]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc (Linux)")


def test_parse_proc_status_reads_kilobytes_as_bytes():
    snap = parse_proc_status(STATUS)
    assert (snap.rss, snap.anonymous, snap.file_backed, snap.shared_memory) == (
        150000 * 1024,
        90000 * 1024,
        59000 * 1024,
        1000 * 1024,
    )
    assert snap.source == "/proc/self/status"
    assert snap.as_mb() == {"rss_mb": 153.6, "anonymous_mb": 92.2, "file_backed_mb": 60.4, "shared_memory_mb": 1.0}


def test_missing_split_says_which_lines_and_why():
    old_kernel = "\n".join(line for line in STATUS.splitlines() if not line.startswith(("RssAnon", "RssFile")))
    with pytest.raises(MemorySplitUnavailable, match=r"no RssAnon, RssFile line.*Linux 4\.5"):
        parse_proc_status(old_kernel)


def test_shmem_is_optional_and_garbage_is_rejected():
    assert parse_proc_status(STATUS.replace("RssShmem:\t    1000 kB\n", "")).shared_memory == 0
    with pytest.raises(ValueError, match="unexpected RssAnon line"):
        parse_proc_status(STATUS.replace("90000 kB", "90000 MB"))


def test_difference_of_snapshots():
    a = MemorySnapshot(100, 60, 40, 0, "x")
    b = MemorySnapshot(130, 55, 75, 0, "x")
    assert b - a == MemorySnapshot(30, -5, 35, 0, "x")


@linux_only
def test_live_snapshot_adds_up():
    snap = memory_snapshot()
    assert snap.source == "/proc/self/status"
    assert snap.anonymous > 0 and snap.file_backed > 0
    assert abs(snap.rss - (snap.anonymous + snap.file_backed + snap.shared_memory)) <= 64 * 1024


@linux_only
def test_heap_allocation_grows_anonymous_memory():
    # In a fresh interpreter: a test worker that ran other tests first may hold freed heap that a new block reuses
    # without growing (seen in CI: a growth of 0), and /proc's counters of a many-threaded process can lag.
    code = (
        "from utils.memory import memory_snapshot\n"
        "before = memory_snapshot()\n"
        "block = bytearray(64 * 1024 * 1024)\n"
        "block[::4096] = b'x' * len(block[::4096])  # touch every page\n"
        "grown = memory_snapshot() - before\n"
        "print(grown.anonymous, grown.file_backed)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    anonymous, file_backed = map(int, done.stdout.split())
    assert anonymous >= 60 * 1024 * 1024
    assert abs(file_backed) < 16 * 1024 * 1024


@linux_only
def test_reading_a_memory_mapped_file_grows_file_backed_memory(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\1" * (48 * 1024 * 1024))
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        before = memory_snapshot()
        checksum = sum(mapped[i] for i in range(0, len(mapped), 4096))  # touch every page
        grown = memory_snapshot() - before
    assert checksum == 48 * 256
    assert grown.file_backed >= 40 * 1024 * 1024
    assert grown.anonymous < 16 * 1024 * 1024


@linux_only
def test_psutil_backend_agrees_roughly_with_proc():
    proc, via_psutil = memory_snapshot(backend="proc"), memory_snapshot(backend="psutil")
    assert via_psutil.source == "psutil"
    assert abs(proc.rss - via_psutil.rss) < 32 * 1024 * 1024


def test_psutil_without_a_split_raises_a_clear_error(monkeypatch):
    fake = types.SimpleNamespace(
        __name__="psutil",
        __version__="9.9",
        Process=lambda pid: types.SimpleNamespace(memory_info=lambda: types.SimpleNamespace(rss=123)),
    )
    monkeypatch.setitem(sys.modules, "psutil", fake)
    with pytest.raises(MemorySplitUnavailable, match=r"only total resident memory \(rss=123 bytes\).*needs Linux"):
        memory_snapshot(backend="psutil")


def test_bad_backend_and_missing_process():
    with pytest.raises(ValueError, match="backend must be one of auto, proc, psutil, not 'windows'"):
        memory_snapshot(backend="windows")
    with pytest.raises(ProcessLookupError, match="no process with id 2147483646"):
        memory_snapshot(pid=2147483646)


def test_proc_backend_off_linux_says_what_to_do(monkeypatch):
    monkeypatch.setattr(memory.Path, "is_file", lambda self: False)
    with pytest.raises(MemorySplitUnavailable, match="use backend='psutil'"):
        memory_snapshot(backend="proc")
