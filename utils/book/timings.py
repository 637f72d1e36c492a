"""Per-cell execution times, and the timing report instructors read (``make timings``).

Times come from nbclient's own timing metadata (``execution.iopub.execute_input`` and
``execution.shell.execute_reply``) recorded while a notebook runs. They are stored per notebook and mode in
``notebooks/timings.json`` (committed, so the book can show runtimes without re-running everything) and
reported slowest first. A cell over ``SLOW_CELL_S`` seconds in full mode that is tagged neither ``training`` nor
``cached`` is flagged: an instructor presents cells live, so such a cell should be split or made faster. Slow
``cached`` cells (a one-time computation saved to disk, loaded by later runs) are listed on their own line.

This is a report, never an assertion: these machines are noisy. Each stored time carries the conditions it was taken
in (PyTorch threads, the machine's load average when it ended): the budgets hold for an idle machine with every core,
so a time over budget from a loaded or single-thread run is reported as an upper bound, not as a failure of the budget.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from utils.book.meta import CACHED_TAG, TRAINING_TAG, has_tag
from utils.environment import REPO_ROOT

SLOW_CELL_S = 20.0
TIMINGS_FILE = REPO_ROOT / "notebooks" / "timings.json"
# "fp32": full mode with LLM_RETREAT_BF16=0, standing in for a laptop whose CPU has no native bfloat16
MODES = ("full", "fp32", "smoke")
# the course's budgets per notebook (seconds): full mode (either precision) and smoke mode
BUDGET_S = {"full": 300.0, "fp32": 300.0, "smoke": 30.0}


def machine() -> str:
    """This machine's CPU in one line: model, logical cores, and whether bfloat16 is native (AMX / AVX512-BF16)."""
    model, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    bf16 = "AMX" if "amx_bf16" in flags else "avx512_bf16" if "avx512_bf16" in flags else "no native bf16"
    return f"{model}, {os.cpu_count()} cores, {bf16}"


def conditions() -> dict[str, Any]:
    """How a time being recorded now was taken: the PyTorch threads of the run (``OMP_NUM_THREADS``, which the kernels
    inherit; every core when unset) and the 1-, 5- and 15-minute load averages at its end."""
    threads = int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1
    return {"threads": threads, "cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}


def idle_run(entry: dict) -> bool | None:
    """True when a stored time was taken with every core and no other work (5-minute load average at most the run's
    threads + 0.5); False when not; None when its conditions were not recorded (times stored before they were)."""
    taken = entry.get("conditions")
    if not taken:
        return None
    return taken["threads"] >= taken["cores"] and taken["load_average"][1] <= taken["threads"] + 0.5


def _described(entry: dict) -> str:
    taken = entry.get("conditions")
    if not taken:
        return "not recorded"
    threads = taken["threads"]
    return f"{threads} thread{'s' if threads != 1 else ''}, load {taken['load_average'][1]:.1f}"


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def cell_seconds(cell: Any) -> float | None:
    """Execution time of one executed code cell from nbclient's metadata, or None when it was not recorded."""
    execution = cell.get("metadata", {}).get("execution", {})
    start, end = execution.get("iopub.execute_input"), execution.get("shell.execute_reply")
    if not (start and end):
        return None
    return max(0.0, (_parse(end) - _parse(start)).total_seconds())


def notebook_timings(nb: Any) -> list[dict]:
    """One row per code cell of an executed notebook: index, id, seconds, training/cached tags, first line of code."""
    rows = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        seconds = cell_seconds(cell)
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        first = next((line for line in source.splitlines() if line.strip() and not line.startswith("#")), "")
        rows.append(
            {
                "cell": index,
                "id": cell.get("id", ""),
                "seconds": None if seconds is None else round(seconds, 2),
                "training": has_tag(cell, TRAINING_TAG),
                "cached": has_tag(cell, CACHED_TAG),
                "code": first.strip()[:80],
            }
        )
    return rows


def load(path: Path = TIMINGS_FILE) -> dict:
    """The stored timings ({"notebooks": {stem: {mode: {...}}}}); an empty structure when the file is absent."""
    if not path.is_file():
        return {"notebooks": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def record(stem: str, mode: str, total_seconds: float, rows: list[dict], path: Path = TIMINGS_FILE) -> None:
    """Store one notebook's timings for ``mode`` ("full", "fp32" or "smoke") and this machine, keeping the others."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    data = load(path)
    data.setdefault("notebooks", {}).setdefault(stem, {})[mode] = {
        "measured": datetime.now().strftime("%Y-%m-%d"),
        "machine": machine(),
        "total_seconds": round(total_seconds, 1),
        "conditions": conditions(),
        "cells": rows,
    }
    data["notebooks"] = dict(sorted(data["notebooks"].items()))
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def total_seconds(stem: str, mode: str = "full", path: Path = TIMINGS_FILE) -> float | None:
    """The stored whole-notebook runtime, or None when it was never measured."""
    entry = load(path).get("notebooks", {}).get(stem, {}).get(mode)
    return entry["total_seconds"] if entry else None


def slow_cells(data: dict, threshold: float = SLOW_CELL_S, cached: bool = False) -> list[dict]:
    """Full-mode cells over ``threshold`` seconds tagged neither ``training`` nor ``cached`` (to split or speed up).

    With ``cached=True``: the slow cells tagged ``cached`` instead (one-time work that later runs load).
    """
    return [
        row
        for row in report_rows(data)
        if row["full_s"] is not None and row["full_s"] > threshold and not row["training"] and row["cached"] == cached
    ]


def report_rows(data: dict) -> list[dict]:
    """Every cell with its full- and smoke-mode time, slowest (full mode) first."""
    rows = []
    for stem, modes in data.get("notebooks", {}).items():
        smoke = {row["id"]: row["seconds"] for row in modes.get("smoke", {}).get("cells", [])}
        for row in modes.get("full", {}).get("cells", []):
            rows.append(
                {
                    "notebook": stem,
                    "cell": row["cell"],
                    "full_s": row["seconds"],
                    "smoke_s": smoke.get(row["id"]),
                    "training": row["training"],
                    "cached": row.get("cached", False),
                    "code": row["code"],
                }
            )
    return sorted(rows, key=lambda r: -(r["full_s"] or 0.0))


def notebooks_without_autocast(folder: Path = TIMINGS_FILE.parent) -> frozenset[str]:
    """The notebooks whose code never turns bf16 autocast on (no ``autocast`` and no ``bf16_enabled`` call)."""
    found = set()
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        code = "\n".join(
            "".join(cell["source"])
            for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]
            if cell["cell_type"] == "code"
        )
        if "autocast" not in code and "bf16_enabled" not in code:
            found.add(path.stem)
    return frozenset(found)


def format_report(
    data: dict, top: int = 15, threshold: float = SLOW_CELL_S, no_autocast: frozenset[str] = frozenset()
) -> str:
    """A markdown report: runtime per notebook in both modes, the slowest cells, and the flagged ones.

    ``no_autocast``: the notebooks whose code never turns on bf16 autocast; without an fp32 measurement their fp32
    time is their full-mode time (``LLM_RETREAT_BF16=0`` changes nothing in them), and the report says so.
    """
    lines = [
        "| notebook | full mode | full mode, fp32 (LLM_RETREAT_BF16=0) | smoke mode | full mode measured with | "
        "over budget |",
        "|---|---:|---:|---:|---|---|",
    ]
    machines = set()
    for stem, modes in data.get("notebooks", {}).items():
        cells = []
        for mode in MODES:
            entry = modes.get(mode, {})
            if "total_seconds" in entry:
                cells.append(f"{entry['total_seconds']} s")
            elif mode == "fp32" and stem in no_autocast and "total_seconds" in modes.get("full", {}):
                cells.append("= full (no bf16 autocast)")
            else:
                cells.append("–")
            machines.add(entry.get("machine", "machine not recorded") if entry else None)
        cells.append(_described(modes["full"]) if "full" in modes else "–")
        over = []
        for mode in MODES:
            entry = modes.get(mode, {})
            if entry.get("total_seconds", 0.0) <= BUDGET_S[mode]:
                continue
            idle = idle_run(entry) if mode != "smoke" else True  # smoke budgets are checked as measured
            over.append(
                f"{mode} > {BUDGET_S[mode]:.0f} s"
                + ("" if idle else " (conditions not recorded)" if idle is None else " (loaded run: an upper bound)")
            )
        lines.append(f"| {stem} | " + " | ".join(cells) + f" | {', '.join(over) or 'no'} |")
    lines += [
        "",
        "Measured on: " + "; ".join(sorted(m for m in machines if m)) + f". Budgets: {BUDGET_S['full']:.0f} s per "
        f"notebook in full mode (either precision, idle machine, two threads), {BUDGET_S['smoke']:.0f} s in smoke mode. "
        "A loaded run (other work on the machine, or fewer threads than cores) over budget is an upper bound: time it "
        "on the idle machine.",
    ]
    lines += [
        "",
        f"Slowest cells in full mode (top {top}; tag `training`: trains a model; `cached`: one-time work "
        "saved to disk, later runs load it):",
        "",
        "| notebook | cell | full s | smoke s | tag | first line |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in report_rows(data)[:top]:
        tag = "training" if row["training"] else "cached" if row["cached"] else ""
        lines.append(
            f"| {row['notebook']} | {row['cell']} | {row['full_s']} | {row['smoke_s']} | "
            f"{tag} | `{row['code'].replace('|', '/')}` |"
        )

    def listed(rows):
        return ", ".join(f"{r['notebook']} cell {r['cell']} ({r['full_s']} s)" for r in rows) or "none"

    lines += [
        "",
        f"Cells over {threshold:.0f} s in full mode that are neither training nor cached cells (to split "
        f"or speed up): {listed(slow_cells(data, threshold))}",
        "",
        f"Cached cells over {threshold:.0f} s in full mode (the first run; a rerun loads the saved result): "
        f"{listed(slow_cells(data, threshold, cached=True))}",
    ]
    return "\n".join(lines)
