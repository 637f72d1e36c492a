"""The book's workflows: run (execute into the book), refresh and adopt (maintainers), tag, timings, student, slides.

``python -m utils.book <command> [NN ...]`` (see :mod:`utils.book.__main__`; the Makefile targets call these).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from utils.book import notebooks, timings, vendor
from utils.book.meta import changed_by_present_mode, student_copy, tag_cells
from utils.book.notebooks import Executed, execute, strip_volatile, title_of
from utils.book.pages import TEMPLATES, page_exporter, write_index, write_page
from utils.environment import REPO_ROOT, display_path


def _execute_on_one_thread(path: Path):
    """``execute`` in a worker process whose kernel gets one PyTorch/BLAS thread (``run(..., jobs=2)``)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"  # the kernel inherits this environment
    return execute(path)


def _executed(paths: list[Path], jobs: int):
    """Yield ``(path, nb, seconds, error)``: one after another, or ``jobs`` kernels at a time (in notebook order,
    each in its own process with one thread, results as they finish)."""
    if jobs <= 1:
        for path in paths:
            print(f"executing {path.name} ...", flush=True)
            yield (path, *execute(path))
        return
    print(f"executing {len(paths)} notebooks, {jobs} at a time, one thread each ...", flush=True)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_execute_on_one_thread, path): path for path in paths}
        for future in as_completed(futures):
            print(f"{futures[future].name}:", flush=True)
            yield (futures[future], *future.result())


def run(selected: list[str] | None = None, record: bool = False, jobs: int = 1) -> int:
    """Execute notebooks (full mode) into build/ with an HTML page each and the index; return the number of failures.

    ``record=True`` (``make run RECORD=1``, for maintainers) also stores each notebook's per-cell full-mode times in
    notebooks/timings.json, as ``make timings`` does, so one run refreshes the book and the timing report.
    ``jobs=2`` (``make run JOBS=2``) executes two notebooks at a time, each kernel on one thread (the notebooks are
    independent: each reads only the assets ``make setup`` built); the runtimes shown are then those of one thread
    beside another kernel, so it cannot be combined with ``record``.
    """
    import nbformat

    if jobs < 1:
        raise ValueError(f"--jobs must be 1 or more, got {jobs}")
    if record and jobs > 1:
        raise ValueError(
            "RECORD=1 stores each notebook's time against the 5-minute budget, measured alone on every thread: "
            "run it with JOBS=1"
        )
    vendor.install()
    exporter = page_exporter()
    every, paths = notebooks.notebook_paths(), notebooks.notebook_paths(selected)
    runtimes_file = notebooks.BUILD / "runtimes.json"
    # a run of some notebooks keeps the pages and runtimes of the others from earlier runs
    runtimes = json.loads(runtimes_file.read_text(encoding="utf-8")) if runtimes_file.is_file() else {}
    this_run = {}
    started = time.perf_counter()
    for path, nb, seconds, error in _executed(paths, jobs):
        if record and not error:
            timings.record(path.stem, "full", seconds, timings.notebook_timings(with_committed_tags(nb, path)))
        # pages render as the committed notebooks do; widget state left in would make nbconvert load the widget
        # manager from a CDN (the browser test caught it)
        strip_volatile(nb)
        nbformat.write(nb, notebooks.BUILD / path.name)
        write_page(exporter, nb, every, every.index(path))
        this_run[path.stem] = Executed(path, title_of(nb), seconds, not error, error)
        runtimes.pop(path.stem, None)
        if not error:
            runtimes[path.stem] = round(seconds, 1)
        print(f"  {'ok' if not error else 'FAILED: ' + error} in {seconds:.0f} s", flush=True)
    print(f"{len(this_run)} notebooks executed in {time.perf_counter() - started:.0f} s (wall clock, {jobs} at a time)")
    results = [
        this_run.get(p.stem) or Executed(p, "", runtimes[p.stem], True)
        for p in every
        if p.stem in this_run or (p.stem in runtimes and (notebooks.BUILD / f"{p.stem}.html").is_file())
    ]
    how = (
        "full mode, wall-clock" if jobs == 1 else f"full mode, wall-clock, {jobs} kernels at a time on one thread each"
    )
    index = write_index(results, f"measured by make run ({how}, last run {time.strftime('%Y-%m-%d')}) on this machine.")
    runtimes_file.write_text(json.dumps(dict(sorted(runtimes.items())), indent=2) + "\n", encoding="utf-8")
    print(f"book written to {display_path(index)}")
    return sum(not r.ok for r in this_run.values())


def tag(selected: list[str] | None = None) -> int:
    """Set slide, solution and training metadata on the notebooks in place and strip volatile metadata (no execution;
    the pre-commit hook runs it)."""
    import nbformat

    for path in notebooks.notebook_paths(selected):
        nb = nbformat.read(path, as_version=4)
        before = json.dumps(nb, sort_keys=True)
        tag_cells(nb)
        strip_volatile(nb)
        if json.dumps(nb, sort_keys=True) != before:
            nbformat.write(nb, path)
            print(f"tagged {path.name}")
    return 0


def present_list(selected: list[str] | None = None) -> int:
    """Print the notebooks that present mode or a cache can change (``make test``'s second pass runs these)."""
    import nbformat

    for path in notebooks.notebook_paths(selected):
        if changed_by_present_mode(nbformat.read(path, as_version=4)):
            print(display_path(path))
    return 0


def refresh(selected: list[str] | None = None) -> int:
    """Re-execute notebooks in place (full mode), tag cells, store timings, strip volatile metadata.

    A failing notebook is left untouched.
    """
    failures = 0
    for path in notebooks.notebook_paths(selected):
        print(f"refreshing {path.name} ...", flush=True)
        nb, seconds, error = execute(path)
        if error:
            failures += 1
            print(f"  FAILED ({error}); {path.name} left unchanged", flush=True)
            continue
        timings.record(path.stem, "full", seconds, timings.notebook_timings(tag_cells(nb)))
        write_committed(nb, path)
        print(f"  ok in {seconds:.0f} s", flush=True)
    return failures


def adopt(selected: list[str] | None = None) -> int:
    """Copy notebooks executed by ``make run`` (build/) over notebooks/, tagged and stripped, like ``make refresh``.

    One full-mode run then serves the book and the committed notebooks. A notebook whose code or markdown changed
    since ``make run`` executed it is refused (run it again); a missing or failed build copy is refused too.
    """
    import nbformat

    failures = 0
    for path in notebooks.notebook_paths(selected):
        built = notebooks.BUILD / path.name
        if not built.is_file():
            print(f"{path.name}: no copy from make run in {notebooks.BUILD}; run `make run NB={path.stem[:2]}`")
            failures += 1
            continue
        nb, committed = nbformat.read(built, as_version=4), nbformat.read(path, as_version=4)
        if [(c.cell_type, c.source) for c in nb.cells] != [(c.cell_type, c.source) for c in committed.cells]:
            print(f"{path.name}: changed since make run executed it; run `make run NB={path.stem[:2]}` again")
            failures += 1
            continue
        code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
        if any(o.get("output_type") == "error" for c in code for o in c.get("outputs", [])) or any(
            c.get("execution_count") is None for c in code
        ):
            print(f"{path.name}: the build copy holds an error or cells that never ran; not adopted")
            failures += 1
            continue
        write_committed(nb, path)
        print(f"adopted {path.name}")
    return failures


def write_committed(nb, path: Path) -> None:
    """Write an executed notebook over the committed one: cell metadata from its structure, volatile parts stripped."""
    import nbformat

    tag_cells(nb)
    strip_volatile(nb)
    nbformat.write(nb, path)


def with_committed_tags(nb, path: Path):
    """``nb`` (an executed copy of ``path``) with the tags the committed notebook's structure gives each cell."""
    import nbformat

    for cell, tagged in zip(nb.cells, tag_cells(nbformat.read(path, as_version=4)).cells):
        cell.metadata["tags"] = tagged.metadata.get("tags", [])
    return nb


def measure_timings(selected: list[str] | None = None, modes: tuple[str, ...] = timings.MODES) -> int:
    """Execute notebooks in each mode (not in place; "fp32" is full mode with LLM_RETREAT_BF16=0), store per-cell
    times with this machine's CPU, print the report with the notebooks over budget."""
    failures = 0
    for path in notebooks.notebook_paths(selected):
        for mode in modes:
            print(f"timing {path.name} ({mode} mode) ...", flush=True)
            nb, seconds, error = execute(path, smoke=(mode == "smoke"), bf16=(mode != "fp32"))
            if error:
                failures += 1
                print(f"  FAILED ({error})", flush=True)
                continue
            timings.record(path.stem, mode, seconds, timings.notebook_timings(with_committed_tags(nb, path)))
            print(f"  {seconds:.0f} s", flush=True)
    print(timings.format_report(timings.load()))
    return failures


def student(selected: list[str] | None = None) -> int:
    """Learner copies in build/student/: solution cells removed, outputs and execution counts cleared."""
    import nbformat

    out = notebooks.BUILD / "student"
    out.mkdir(parents=True, exist_ok=True)
    for path in notebooks.notebook_paths(selected):
        nb = nbformat.read(path, as_version=4)
        tag_cells(nb)
        removed = len(nb.cells)
        student_copy(nb)
        removed -= len(nb.cells)
        nbformat.write(nb, out / path.name)
        print(f"{(out / path.name).relative_to(REPO_ROOT)}: {removed} solution cells removed, outputs cleared")
    return 0


def slides(selected: list[str] | None = None) -> int:
    """reveal.js slides for every notebook in build/slides/, loading reveal.js from the local vendor copy."""
    import nbformat
    from nbconvert import SlidesExporter

    vendor.install()
    out = notebooks.BUILD / "slides"
    out.mkdir(parents=True, exist_ok=True)
    exporter = SlidesExporter(extra_template_basedirs=[str(TEMPLATES)], template_name="slides_offline")
    exporter.reveal_url_prefix = vendor.url("reveal_prefix", out)
    exporter.reveal_theme = "white"  # its font ships with reveal.js; "simple" (the default) imports Google Fonts
    exporter.require_js_url = vendor.url("require", out)
    exporter.jquery_url = vendor.url("jquery", out)
    exporter.mathjax_url = vendor.url("mathjax", out)
    for path in notebooks.notebook_paths(selected):
        nb = tag_cells(nbformat.read(path, as_version=4))
        body, _ = exporter.from_notebook_node(nb)
        target = out / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        count = sum(1 for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") == "slide")
        print(f"{target.relative_to(REPO_ROOT)}: {count} slides")
    return 0
