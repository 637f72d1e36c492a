"""A large, real, local text corpus: the Python source files of this very environment (notebook 08).

Every learner who installed the course has it, nothing is downloaded, and it is big: the standard
library plus the installed packages hold tens of thousands of ``.py`` files, a few hundred megabytes.
Files are listed in sorted order and read with ``errors="replace"``, so the corpus is deterministic for
one environment; to reach a target size larger than the sources the listing is read again (a second
*pass*), and each record says which pass it came from.

Never commit any of this text: it is other projects' code under their own licences.
"""

from __future__ import annotations

import hashlib
import json
import sysconfig
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT_NAMES = ("stdlib", "purelib")  # keys of sysconfig.get_paths(); also the "source" column
# Third-party packages installed for the base interpreter live inside its standard library folder;
# they are not the standard library, and the environment's own packages come from "purelib".
PACKAGE_FOLDERS = frozenset({"site-packages", "dist-packages"})
FORMAT_VERSION = 1  # bump when the records change, so that fingerprints change too


@dataclass(frozen=True)
class SourceFile:
    """One ``.py`` file: the root it belongs to, its path relative to that root, and its size in bytes."""

    source: str
    relative_path: str
    path: Path
    size: int


def python_source_roots() -> dict[str, Path]:
    """The folders the corpus reads: ``sysconfig.get_paths()["stdlib"]`` and ``["purelib"]``."""
    paths = sysconfig.get_paths()
    return {name: Path(paths[name]) for name in ROOT_NAMES}


def python_source_files(roots: Mapping[str, Path] | None = None) -> list[SourceFile]:
    """Every ``*.py`` file under ``roots`` (default :func:`python_source_roots`), in a deterministic order.

    Sorted by root name (in the order given) then by relative path. A folder nested inside another root
    is listed once, under its own root; ``site-packages``/``dist-packages`` folders below a root (the base
    interpreter's third-party packages inside the standard library folder) are skipped, as are empty
    files. Raises FileNotFoundError for a root that does not exist and
    ValueError when no root is given or no file is found.
    """
    roots = dict(python_source_roots() if roots is None else roots)
    if not roots:
        raise ValueError("no source roots given: pass e.g. {'stdlib': Path(...)}")
    resolved = {name: Path(root).resolve() for name, root in roots.items()}
    for name, root in resolved.items():
        if not root.is_dir():
            raise FileNotFoundError(f"source root {name!r} is not a folder: {root}")
    files: list[SourceFile] = []
    for name, root in resolved.items():
        others = [
            other
            for other_name, other in resolved.items()
            if other_name != name and other != root and other.is_relative_to(root)
        ]
        found = []
        for path in root.rglob("*.py"):
            relative = path.relative_to(root)
            if (
                PACKAGE_FOLDERS.intersection(relative.parts[:-1])
                or any(path.is_relative_to(other) for other in others)
                or not path.is_file()
            ):
                continue
            size = path.stat().st_size
            if size:
                found.append(SourceFile(name, relative.as_posix(), path, size))
        files.extend(sorted(found, key=lambda f: f.relative_path))
    if not files:
        raise ValueError(f"no .py files found under {', '.join(str(r) for r in resolved.values())}")
    return files


def corpus_fingerprint(target_bytes: int, files: list[SourceFile] | None = None) -> str:
    """A short hash of what :func:`iter_corpus` would yield: file list, sizes, target size, format.

    Equal fingerprints mean an already-built copy can be reused; any added, removed or resized file
    (a package upgrade) changes it. File contents are not read, so this takes well under a second.
    """
    files = python_source_files() if files is None else files
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, int(target_bytes)]).encode())
    for f in files:
        digest.update(f"{f.source}\0{f.relative_path}\0{f.size}\n".encode())
    return digest.hexdigest()[:16]


def iter_corpus(target_bytes: int, files: list[SourceFile] | None = None) -> Iterator[dict[str, object]]:
    """Records ``{"source", "path", "pass", "text"}``, one per file, until ``target_bytes`` are reached.

    The size counted is the UTF-8 length of ``text``; the last record is the one that reaches the
    target, so the total is at least ``target_bytes`` and exceeds it by less than one file. When the
    files run out, a new pass starts from the first file again (``pass`` is 0, 1, 2, ...).
    Raises ValueError for a target that is not a positive integer and when every file is empty.
    """
    if isinstance(target_bytes, bool) or not isinstance(target_bytes, int) or target_bytes <= 0:
        raise ValueError(f"target_bytes must be a positive integer, got {target_bytes!r}")
    files = python_source_files() if files is None else files
    total = 0
    pass_number = 0
    while True:
        yielded = False
        for f in files:
            text = f.path.read_text(encoding="utf-8", errors="replace")
            size = len(text.encode("utf-8"))
            if not size:
                continue
            yielded = True
            total += size
            yield {"source": f.source, "path": f.relative_path, "pass": pass_number, "text": text}
            if total >= target_bytes:
                return
        if not yielded:
            raise ValueError("every source file is empty: the corpus cannot reach any size")
        pass_number += 1


def corpus_batches(
    target_bytes: int, batch_size: int = 1000, files: list[SourceFile] | None = None
) -> Iterator[dict[str, list]]:
    """:func:`iter_corpus` grouped into column batches of ``batch_size`` records (the last may be shorter).

    Each batch is ``{"source": [...], "path": [...], "pass": [...], "text": [...]}``, the shape
    ``pyarrow.RecordBatch.from_pydict`` and ``datasets`` batched writers take.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    batch: dict[str, list] = {"source": [], "path": [], "pass": [], "text": []}
    for record in iter_corpus(target_bytes, files):
        for key, value in record.items():
            batch[key].append(value)
        if len(batch["text"]) == batch_size:
            yield batch
            batch = {key: [] for key in batch}
    if batch["text"]:
        yield batch
