"""How much memory a process holds, split into anonymous and file-backed pages (notebook 08).

Resident memory (RSS) mixes two kinds of pages that behave very differently:

- **anonymous** pages (``RssAnon``): the heap, Python objects, NumPy/Arrow buffers a process allocated.
  Only the process can give them back; this is what runs a machine out of memory.
- **file-backed** pages (``RssFile``): pages of files the process has memory-mapped. They live in the
  operating system's page cache; the kernel can drop them at any time and read them again from disk.

A memory-mapped Arrow dataset grows file-backed memory as it is read, not anonymous memory.
On Linux the split comes from ``/proc/<pid>/status``; elsewhere psutil is asked, and a platform that
cannot tell the two apart raises :class:`MemorySplitUnavailable`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MB = 1_000_000
_PROC_FIELDS = {"VmRSS": "rss", "RssAnon": "anonymous", "RssFile": "file_backed", "RssShmem": "shared_memory"}


class MemorySplitUnavailable(RuntimeError):
    """This platform cannot split resident memory into anonymous and file-backed pages."""


@dataclass(frozen=True)
class MemorySnapshot:
    """Resident memory of one process, in bytes, and where the figures came from."""

    rss: int
    anonymous: int
    file_backed: int
    shared_memory: int
    source: str  # "/proc/<pid>/status" or "psutil"

    def as_mb(self) -> dict[str, float]:
        """The four figures in megabytes (10**6 bytes), rounded to 0.1, keyed for a table row."""
        return {
            "rss_mb": round(self.rss / MB, 1),
            "anonymous_mb": round(self.anonymous / MB, 1),
            "file_backed_mb": round(self.file_backed / MB, 1),
            "shared_memory_mb": round(self.shared_memory / MB, 1),
        }

    def __sub__(self, other: MemorySnapshot) -> MemorySnapshot:
        """The growth from ``other`` to ``self`` (figures may be negative)."""
        return MemorySnapshot(
            rss=self.rss - other.rss,
            anonymous=self.anonymous - other.anonymous,
            file_backed=self.file_backed - other.file_backed,
            shared_memory=self.shared_memory - other.shared_memory,
            source=self.source,
        )


def parse_proc_status(text: str, source: str = "/proc/self/status") -> MemorySnapshot:
    """A snapshot from the text of a Linux ``/proc/<pid>/status`` file (values in kB).

    Raises :class:`MemorySplitUnavailable` when ``VmRSS``, ``RssAnon`` or ``RssFile`` is missing
    (kernels before 4.5 and kernel threads lack them). ``RssShmem`` counts as 0 when absent.
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in _PROC_FIELDS:
            parts = rest.split()
            if len(parts) != 2 or parts[1] != "kB" or not parts[0].isdigit():
                raise ValueError(f"unexpected {key} line in {source}: {line!r}")
            values[_PROC_FIELDS[key]] = int(parts[0]) * 1024
    missing = [key for key, name in _PROC_FIELDS.items() if name not in values and key != "RssShmem"]
    if missing:
        raise MemorySplitUnavailable(
            f"{source} has no {', '.join(missing)} line: this kernel does not report anonymous and "
            "file-backed resident memory separately (Linux 4.5 or later does)"
        )
    values.setdefault("shared_memory", 0)
    return MemorySnapshot(source=source, **values)


def _from_psutil(pid: int) -> MemorySnapshot:
    try:
        import psutil
    except ImportError as error:  # pragma: no cover - psutil is pinned in requirements.txt
        raise MemorySplitUnavailable(
            "no /proc/<pid>/status here and psutil is not installed: pip install psutil"
        ) from error
    info = psutil.Process(pid).memory_info()
    shared = getattr(info, "shared", None)  # Linux only: file-backed + shared-memory resident pages
    if shared is None:
        raise MemorySplitUnavailable(
            f"psutil on this platform ({psutil.__name__} {psutil.__version__}, {os.name}) reports only total "
            f"resident memory (rss={info.rss} bytes), not anonymous versus file-backed pages; the split needs "
            "Linux (/proc/<pid>/status)"
        )
    return MemorySnapshot(
        rss=info.rss, anonymous=info.rss - shared, file_backed=shared, shared_memory=0, source="psutil"
    )


BACKENDS = ("auto", "proc", "psutil")


def memory_snapshot(pid: int | None = None, backend: str = "auto") -> MemorySnapshot:
    """Resident memory of process ``pid`` (default: this process), split into anonymous and file-backed.

    ``backend="auto"`` reads ``/proc/<pid>/status`` where it exists (Linux) and falls back to psutil;
    ``"proc"`` or ``"psutil"`` forces one. Raises :class:`MemorySplitUnavailable` where the chosen source
    cannot tell anonymous from file-backed pages (e.g. macOS, Windows), ``ProcessLookupError`` for a
    process that does not exist and ValueError for an unknown backend.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    own = pid is None or pid == os.getpid()
    pid = os.getpid() if pid is None else pid
    proc_available = Path("/proc/self/status").is_file()
    if backend == "proc" or (backend == "auto" and proc_available):
        if not proc_available:
            raise MemorySplitUnavailable(
                "no /proc/self/status on this platform: use backend='psutil' "
                "(or 'auto'); the anonymous/file-backed split needs Linux"
            )
        source = "/proc/self/status" if own else f"/proc/{pid}/status"
        try:
            text = Path(source).read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            raise ProcessLookupError(f"no process with id {pid}") from None
        return parse_proc_status(text, source=source)
    try:
        return _from_psutil(pid)
    except Exception as error:
        if type(error).__name__ == "NoSuchProcess":
            raise ProcessLookupError(f"no process with id {pid}") from None
        raise
