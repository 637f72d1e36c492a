"""Where the course's files live, and the ``.complete`` marker that says an asset folder is whole.

The bottom of the course layer: every other module of ``utils.course`` asks this one for a path.
A marker records the stamp the folder was made from (an archive hash, a fingerprint) and the size of every
file in it, so a file deleted or truncated after the build is noticed and the folder is rebuilt.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from utils.environment import asset_home

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_DATA = REPO_ROOT / "data"
MARKER = ".complete"

# Asset folders, relative to the asset home (each named once here).
MINILM = "models/all-MiniLM-L6-v2"
SMOLLM2 = "models/SmolLM2-135M-Instruct"
TINY_BERT = "models/tiny-bert"
RAW_WIKI = "raw/wiki"
RAW_VADER = "raw/vader"
RAW_HUMANEVAL = "raw/humaneval"


def asset_path(relative: str) -> Path:
    """A path inside the asset home (``relative`` like ``"models/all-MiniLM-L6-v2"``)."""
    return asset_home() / relative


def write_marker(folder: Path, stamp: str) -> None:
    """Mark ``folder`` complete: the stamp plus the size of every file now in it."""
    files = {
        path.relative_to(folder).as_posix(): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MARKER
    }
    (folder / MARKER).write_text(json.dumps({"stamp": stamp, "files": files}, indent=1) + "\n", encoding="utf-8")


def publish(target: Path, stamp: str, fill: Callable[[Path], None]) -> None:
    """Build an asset folder all at once: ``fill(staging)`` writes into a staging folder next to ``target``, the marker
    (``stamp``) is added, then the staging folder replaces ``target``. An interrupted build leaves the previous
    complete folder, or none, never half of one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        fill(staging)
        write_marker(staging, stamp)
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(staging), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_stamp(folder: Path) -> str | None:
    """The stamp in ``folder``'s marker, or None when there is no readable marker."""
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8"))["stamp"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def missing_files(folder: Path) -> list[str]:
    """Files the marker lists that are gone or have another size (all of them when there is no marker)."""
    try:
        listed = json.loads((folder / MARKER).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return ["(no readable .complete marker)"]
    return [
        name for name, size in listed.items() if not (folder / name).is_file() or (folder / name).stat().st_size != size
    ]


def is_complete(folder: Path, stamp: str | None = None) -> bool:
    """True when ``folder`` has a marker (with ``stamp``, if given) and every file it lists, at its size."""
    found = read_stamp(folder)
    return found is not None and (stamp is None or found == stamp) and not missing_files(folder)


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def format_table(rows: list[dict[str, str]]) -> str:
    """A plain-text table of dict rows (same keys), for terminals and notebook output."""
    if not rows:
        return "(empty)"
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)
