"""What is in the asset home: one table of every archive, kit asset, prepared dataset, stand-in, course model and
course run.

``python -m utils.course status`` prints it within 100 columns: each asset with its size and licence, the fix for
each missing one, the stand-ins, course models and course runs of both modes, the saved present-mode runs (``runs/``) and notebooks' work files
(``scratch/``), totals, then the source of each kit asset. It exits with 1 when an asset the current mode needs is
missing. Notebook 00 shows :func:`status_rows` (the same assets, with sources and licences).
The top of the course layer's chain: it reads every other module and none reads it.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from utils.course import archives, course_models, course_runs, kit, prepared, registry
from utils.course.files import asset_path, folder_size, human_size, is_complete
from utils.environment import asset_home, configure, display_path
from utils.modes import mode_name

WIDTH = 100
KIT_FIX = "make kit"


def _row(asset: str, present: bool, size: int, source: str, licence: str) -> dict[str, str]:
    return {
        "asset": asset,
        "present": "yes" if present else "no",
        "size": human_size(size) if present else "-",
        "source": source,
        "licence": licence,
    }


def status_rows() -> list[dict[str, str]]:
    """One row per archive, kit asset, prepared dataset and stand-in (current mode)."""
    rows = []
    folder = archives.archive_dir()
    for pin in archives.pins().values():
        path = archives.find_archive(folder, pin) if folder.exists() else None
        rows.append(
            _row(
                f"archives/{path.name if path else pin.package + '==' + pin.version}",
                path is not None,
                folder_size(path) if path else 0,
                f"PyPI {pin.package}=={pin.version}",
                "(archive)",
            )
        )
    for asset in kit.ASSETS:
        rows.append(_row(asset.name, kit.is_fetched(asset), folder_size(asset.folder), asset.source, asset.licence))
    for entry in prepared.PREPARED.values():
        rows.append(
            _row(
                f"datasets/{entry.name}",
                prepared.is_ready(entry),
                folder_size(entry.folder),
                entry.source,
                entry.licence,
            )
        )
    for name, spec in registry.SPECS.items():
        path = registry.model_dir(name)
        rows.append(
            _row(
                f"standins/{mode_name()}/{name}",
                registry.is_built(name),
                folder_size(path),
                f"built here from all-MiniLM-L6-v2 + {spec.dataset}",
                "Apache-2.0 weights; see data licence",
            )
        )
    return rows


@dataclass(frozen=True)
class Entry:
    """One line of ``python -m utils.course status``."""

    name: str
    present: bool
    size: int
    licence: str
    fix: str  # the command that makes or removes it
    needed: bool = True  # False: optional here (the other mode's stand-ins, saved runs, scratch files)
    source: str = ""


def entries() -> list[Entry]:
    """Everything ``status`` reports: the assets of :func:`status_rows`, both modes' stand-ins, course models and
    course runs, runs/ and scratch/."""
    found = []
    folder = archives.archive_dir()
    for pin in archives.pins().values():
        path = archives.find_archive(folder, pin) if folder.exists() else None
        size = folder_size(path) if path else 0
        found.append(Entry(f"archives/{pin.package}=={pin.version}", path is not None, size, "(archive)", KIT_FIX))
    for asset in kit.ASSETS:
        present = kit.is_fetched(asset)
        found.append(Entry(asset.name, present, folder_size(asset.folder), asset.licence, KIT_FIX, source=asset.source))
    for entry in prepared.PREPARED.values():
        found.append(
            Entry(
                f"datasets/{entry.name}",
                prepared.is_ready(entry),
                folder_size(entry.folder),
                entry.licence,
                KIT_FIX,
                source=entry.source,
            )
        )
    current = mode_name()
    for mode in (current, "smoke" if current == "full" else "full"):
        command = "make standins" + (" LLM_RETREAT_SMOKE=1" if mode == "smoke" else "")
        for name in registry.SPECS:
            path = registry.model_dir(name, smoke=mode == "smoke")
            present = is_complete(path) and (path / registry.INFO_FILE).is_file()
            fix = f"{command} (or first use in a notebook)" if mode == current else f"{command} (only for {mode} mode)"
            found.append(
                Entry(f"standins/{mode}/{name}", present, folder_size(path), "Apache-2.0", fix, mode == current)
            )
    for mode in (current, "smoke" if current == "full" else "full"):
        # the course models (notebooks 20-21) and course runs (notebook 19), built by make course-models
        command = "make course-models" + (" LLM_RETREAT_SMOKE=1" if mode == "smoke" else "")
        fix = f"{command} (or first use in a notebook)" if mode == current else f"{command} (only for {mode} mode)"
        for kind, names, licence in (
            ("course_models", course_models.names(), "Apache-2.0"),
            ("course_runs", course_runs.names(), "-"),
        ):
            for name in names:
                path = asset_path(kind) / mode / name
                found.append(Entry(f"{kind}/{mode}/{name}", is_complete(path), folder_size(path), licence, fix,
                                   mode == current))  # fmt: skip
    for kind in ("runs", "scratch"):
        folders = sorted(p for p in (asset_home() / kind).glob("*") if p.is_dir())
        for path in folders:
            found.append(Entry(f"{kind}/{path.name}", True, folder_size(path), "-", NOTES[kind], False))
        if not folders:
            found.append(Entry(f"{kind}/", False, 0, "-", NOTES[kind], False))
    return found


NOTES = {
    "runs": "saved present-mode runs, one folder per notebook (a training notebook run once saves its runs: make run "
    "NB=10); delete one with rm -rf <asset home>/runs/<folder>",
    "scratch": "notebooks' work files (08's 1 GB dataset, 09's vectors), made again when needed; delete one with "
    "rm -rf <asset home>/scratch/<folder>",
}


def report(found: list[Entry], home: str, width: int = WIDTH) -> str:
    """The text ``status`` prints: a table no wider than ``width``, a fix under each missing line, totals, sources."""
    name_width = min(max(len(e.name) for e in found), 44)
    lines = [f"asset home: {home} ({mode_name()} mode)", ""]
    header = f"{'asset'.ljust(name_width)}  {'present':7}  {'size':>9}  licence"
    lines += [header, "-" * min(width, len(header) + 30)]
    for entry in found:
        present = "yes" if entry.present else ("MISSING" if entry.needed else "no")
        size = human_size(entry.size) if entry.present else "-"
        room = width - name_width - 22
        licence = entry.licence if len(entry.licence) <= room else entry.licence[: room - 1] + "…"
        lines.append(f"{entry.name.ljust(name_width)}  {present:7}  {size:>9}  {licence}".rstrip())
        if entry.needed and not entry.present:
            lines += textwrap.wrap(f"fix: {entry.fix}", width, initial_indent="    ", subsequent_indent="      ")
    missing = [e for e in found if e.needed and not e.present]
    total = folder_size(asset_home()) if asset_home().exists() else 0
    groups = {kind: sum(e.size for e in found if e.name.startswith(kind)) for kind in ("runs/", "scratch/")}
    lines += [
        "",
        f"total: {human_size(total)} in the asset home (saved runs {human_size(groups['runs/'])}, "
        f"scratch {human_size(groups['scratch/'])}); {len(found) - len(missing)} of {len(found)} lines present",
    ]
    if missing:
        fixes = sorted({e.fix.split(" (")[0] for e in missing})
        summary = f"{len(missing)} needed in {mode_name()} mode and missing: run {' and '.join(fixes)}"
        lines += textwrap.wrap(summary, width, subsequent_indent="  ")
    else:
        lines.append(f"everything {mode_name()} mode needs is here")
    other = "smoke" if mode_name() == "full" else "full"
    notes = [
        f"standins/{other}/: only {other} mode uses them; "
        + next(e.fix for e in found if e.name.startswith(f"standins/{other}/")).replace(
            f" (only for {other} mode)", ""
        ),
        f"runs/: {NOTES['runs']}",
        f"scratch/: {NOTES['scratch']}",
    ]
    lines += ["", "notes:"]
    for note in notes:
        lines += textwrap.wrap(note, width, initial_indent="  ", subsequent_indent="    ")
    lines += ["", "sources:"]
    for entry in found:
        if entry.source:
            lines += textwrap.wrap(
                f"{entry.name}: {entry.source}", width, initial_indent="  ", subsequent_indent="    "
            )
    return "\n".join(lines)


def main() -> int:
    """Print the report; 1 when something the current mode needs is missing, else 0."""
    configure()
    found = entries()
    print(report(found, display_path(asset_home(), asset_relative=False)))
    return 1 if any(e.needed and not e.present for e in found) else 0
