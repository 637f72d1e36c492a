"""Execute the notebooks: the HTML book (``make run``) and in-place refresh for maintainers (``make refresh``).

``python -m utils.book run`` executes every ``notebooks/NN_*.ipynb`` in order, in a fresh kernel each,
into ``build/`` (executed ``.ipynb`` + ``.html``) and writes ``build/index.html`` with titles and
runtimes. It never writes to tracked files.

``python -m utils.book refresh [NN ...]`` re-executes notebooks in place, top to bottom, and strips
volatile metadata, so that what is committed is exactly what a learner sees.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from utils.environment import configure

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"
CELL_TIMEOUT_S = 1800
KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")


@dataclass
class Executed:
    path: Path
    title: str
    seconds: float
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


def execute(path: Path):
    """Execute a notebook top to bottom in a fresh kernel (cwd = notebooks/); return (nb, seconds, error)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellExecutionError as failure:
        error = str(failure).splitlines()[-1] if str(failure) else "cell failed"
    return nb, time.perf_counter() - started, error


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
            ".fail{color:#b00}</style></head><body>" + body + "</body></html>")


def write_index(results: list[Executed]) -> Path:
    rows = "".join(
        f"<tr><td><a href='{html.escape(r.path.stem)}.html'>{html.escape(r.path.stem)}</a></td>"
        f"<td>{html.escape(r.title)}</td><td>{r.seconds:.0f} s</td>"
        f"<td>{'ok' if r.ok else '<span class=fail>failed: ' + html.escape(r.error) + '</span>'}</td></tr>"
        for r in results)
    body = ("<h1>LLM Retreat</h1><p>Every notebook executed top to bottom in full mode on this machine "
            f"({time.strftime('%Y-%m-%d')}). Runtimes are wall-clock seconds.</p>"
            f"<table><tr><th>notebook</th><th>title</th><th>runtime</th><th>status</th></tr>{rows}</table>")
    index = BUILD / "index.html"
    index.write_text(_page("LLM Retreat", body), encoding="utf-8")
    return index


def run(selected: list[str] | None = None) -> int:
    """Execute notebooks into build/ with an HTML page each and an index; return the number of failures."""
    import nbformat
    from nbconvert import HTMLExporter

    BUILD.mkdir(exist_ok=True)
    exporter = HTMLExporter()
    results = []
    for path in notebook_paths(selected):
        print(f"executing {path.name} ...", flush=True)
        nb, seconds, error = execute(path)
        nbformat.write(nb, BUILD / path.name)
        (BUILD / f"{path.stem}.html").write_text(exporter.from_notebook_node(nb)[0], encoding="utf-8")
        results.append(Executed(path, title_of(nb), seconds, not error, error))
        print(f"  {'ok' if not error else 'FAILED: ' + error} in {seconds:.0f} s", flush=True)
    index = write_index(results)
    (BUILD / "runtimes.json").write_text(
        json.dumps({r.path.stem: round(r.seconds, 1) for r in results}, indent=2) + "\n", encoding="utf-8")
    print(f"book written to {index.relative_to(ROOT)}")
    return sum(not r.ok for r in results)


def refresh(selected: list[str] | None = None) -> int:
    """Re-execute notebooks in place (full mode) and strip volatile metadata; a failing notebook is left untouched."""
    import nbformat

    failures = 0
    for path in notebook_paths(selected):
        print(f"refreshing {path.name} ...", flush=True)
        nb, seconds, error = execute(path)
        if error:
            failures += 1
            print(f"  FAILED ({error}); {path.name} left unchanged", flush=True)
            continue
        strip_volatile(nb)
        nbformat.write(nb, path)
        print(f"  ok in {seconds:.0f} s", flush=True)
    return failures


def main(argv: list[str] | None = None) -> int:
    configure()
    parser = argparse.ArgumentParser(prog="python -m utils.book")
    parser.add_argument("command", choices=["run", "refresh"])
    parser.add_argument("notebooks", nargs="*", help="notebook numbers, e.g. 00 03 (default: all)")
    args = parser.parse_args(argv)
    try:
        failures = run(args.notebooks) if args.command == "run" else refresh(args.notebooks)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
