"""Notebooks as files: where they are, executing one in a fresh kernel, and what is stripped before committing.

The bottom of the book tooling (:mod:`utils.book`); it never imports the course's asset layer.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from utils.environment import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"

BUILD = REPO_ROOT / "build"

CELL_TIMEOUT_S = 1800

KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")

VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")


@dataclass
class Executed:
    path: Path
    title: str
    seconds: float | None
    ok: bool
    error: str = ""


def notebook_paths(selected: list[str] | None = None) -> list[Path]:
    """Numbered notebooks in order; ``selected`` filters by number prefix (``["03"]``). Raises ValueError if none match."""
    paths = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if selected:
        paths = [p for p in paths if any(p.name.startswith(s.zfill(2) if s.isdigit() else s) for s in selected)]
        if not paths:
            raise ValueError(
                f"no notebook matches {selected}; available: {', '.join(p.name for p in notebook_paths())}"
            )
    return paths


def title_of(nb) -> str:
    """The first markdown heading of a notebook."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return "(untitled)"


def strip_volatile(nb) -> None:
    """Remove metadata that changes from run to run or machine to machine (timings, widget state)."""
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in KEPT_NOTEBOOK_METADATA}
    if "language_info" in nb.metadata:
        nb.metadata["language_info"] = {"name": nb.metadata["language_info"].get("name", "python")}
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                output.get("metadata", {}).pop("ExecuteTime", None)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def settle_progress_bars(nb) -> int:
    """Replace each tqdm widget output by the text of its final state; return how many were replaced.

    A progress bar is a widget: its output stores only the first frame as text ("0%| 0/314") and the rest lives in
    the notebook's widget state, which ``strip_volatile`` removes. Without this, the committed notebook and the book
    would show every finished bar at 0%. Other widgets are left as they are.
    """
    import html  # noqa: PLC0415

    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            box = state.get(view.get("model_id", "")) if view else None
            if not box or box.get("model_name") != "HBoxModel":
                continue
            children = [state.get(child.removeprefix("IPY_MODEL_"), {}) for child in box["state"].get("children", [])]
            if [c.get("model_name") for c in children] != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
                continue
            bar = children[1]["state"]
            filled = round(10 * bar["value"] / bar["max"]) if bar.get("max") else 0
            left, right = (
                html.unescape(c["state"]["value"]).replace("\u2007", " ")  # tqdm's figure spaces
                for c in (children[0], children[2])
            )
            output["data"] = {"text/plain": f"{left}|{'█' * filled}{' ' * (10 - filled)}|{right}"}
            replaced += 1
    return replaced


def drop_empty_displays(nb) -> int:
    """Remove display outputs whose HTML is empty; return how many were removed.

    ``Trainer.predict`` and ``evaluate`` in Jupyter show a progress bar and then clear it, leaving an empty HTML
    output that text views print as "<IPython.core.display.HTML object>".
    """
    removed = 0
    for cell in nb.cells:
        outputs = cell.get("outputs", [])
        kept = [
            o
            for o in outputs
            if not (
                o.get("output_type") == "display_data"
                and "text/html" in o.get("data", {})
                and not "".join(o["data"]["text/html"]).strip()
            )
        ]
        if len(kept) != len(outputs):
            removed += len(outputs) - len(kept)
            cell["outputs"] = kept
    return removed


def execute(path: Path, smoke: bool = False, bf16: bool = True):
    """Execute a notebook top to bottom in a fresh kernel (cwd = notebooks/); return (nb, seconds, error).

    ``smoke`` runs the kernel with ``LLM_RETREAT_SMOKE=1`` (otherwise full mode); ``bf16=False`` with
    ``LLM_RETREAT_BF16=0`` (float32 everywhere, as on a CPU without native bfloat16).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    previous = os.environ.get("LLM_RETREAT_SMOKE")
    previous_bf16 = os.environ.get("LLM_RETREAT_BF16")
    os.environ["LLM_RETREAT_SMOKE"] = "1" if smoke else "0"  # the kernel inherits this environment
    if not bf16:
        os.environ["LLM_RETREAT_BF16"] = "0"
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellExecutionError as failure:
        error = str(failure).splitlines()[-1] if str(failure) else "cell failed"
    finally:
        for name, value in (("LLM_RETREAT_SMOKE", previous), ("LLM_RETREAT_BF16", previous_bf16)):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    seconds = time.perf_counter() - started
    settle_progress_bars(nb)
    drop_empty_displays(nb)
    return nb, seconds, error
