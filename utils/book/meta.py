"""What a notebook says about itself (its frame) and the cell metadata the book, slides and student copies use.

Every notebook opens with the same frame (title, "What you will learn", "Prerequisites", "Expected runtime")
and ends with "## Summary" and "## Exercises" followed by "### Solutions". This module reads that frame
for the book's index, and sets cell metadata from the notebook's own structure:

- ``slideshow.slide_type`` (nbconvert's reveal.js export): the title and every ``##`` section start a slide,
  every ``###`` heading and every long output (a figure, or more than ``LONG_OUTPUT_LINES`` lines) a
  sub-slide, everything else continues the current slide;
- the ``solution`` tag, and ``jupyter.source_hidden`` on solution code (collapsed in JupyterLab), on every
  cell after the "## Exercises" cell (or from a "### Solutions" heading) to the end, or to the next ``##``
  section; ``make student`` removes these cells;
- the ``training`` tag on cells that train a model (``trainer.train()``, ``train_run(``, ``fine_tune(``, a ``notebook_launcher`` call, a
  training loop over epochs), so the timing report does not flag them as slow presentation cells;
- the ``cached`` tag on cells whose first line is a ``# cached: ...`` comment: a one-time computation whose result
  is saved to disk and loaded by every later run (an instructor runs the notebook once before class, then presents
  the cell in a second). The report lists them apart from the cells to split or speed up.

Tags already present are kept: a maintainer can tag a cell by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

LONG_OUTPUT_LINES = 25
SOLUTION_TAG = "solution"
TRAINING_TAG = "training"
TRAINING_CODE = re.compile(r"\.train\(|\btrain_run\(|\bfine_tune\(|notebook_launcher\(|^\s*for epoch in ", re.MULTILINE)
CACHED_TAG = "cached"
CACHED_CODE = re.compile(r"\A\s*# cached:")
# a call that present mode answers from a saved run (utils.present)
PRESENT_CODE = re.compile(r"\b(?:train_or_load|run_or_load)\(")
SOLUTIONS_HEADING = re.compile(r"^#{2,4}\s*Solutions?\b", re.IGNORECASE)
EXERCISES_HEADING = re.compile(r"^##\s+Exercises\b", re.IGNORECASE | re.MULTILINE)
TITLE = re.compile(r"^#\s+(?:(\d\d)\s*·\s*)?(.+)$")


@dataclass
class Frame:
    """The frame of one notebook, as written in its first markdown cell."""

    title: str
    summary: str
    objectives: list[str] = field(default_factory=list)
    prerequisites: str = ""
    expected_runtime: str = ""
    exercises: int = 0


def _source(cell: Any) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _strip_markdown(text: str) -> str:
    return re.sub(r"\*\*|`|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])", "", text).strip()


def _labelled(text: str, label: str) -> str:
    """The text after a bold label such as ``**Prerequisites:**``, up to the next blank line."""
    match = re.search(rf"\*\*{label}:?\*\*:?\s*(.+?)(?:\n\s*\n|$)", text, re.IGNORECASE | re.DOTALL)
    return " ".join(match.group(1).split()) if match else ""


def read_frame(nb: Any) -> Frame:
    """Parse the frame of a notebook (a dict or NotebookNode).

    Returns a Frame; raises ValueError naming the missing part when the first markdown cell has no
    ``# NN · Title`` heading or no "What you will learn" list.
    """
    markdown = [_source(c) for c in nb["cells"] if c["cell_type"] == "markdown"]
    if not markdown:
        raise ValueError("the notebook has no markdown cell: start it with a '# NN · Title' cell")
    head = markdown[0]
    lines = head.splitlines()
    title_match = TITLE.match(lines[0].strip()) if lines else None
    if not title_match:
        raise ValueError("the first markdown cell must start with a '# NN · Title' heading")
    objectives: list[str] = []
    in_objectives = False
    paragraphs: list[str] = []
    for line in lines[1:]:
        stripped = line.strip()
        if re.match(r"\*\*What you will learn", stripped, re.IGNORECASE):
            in_objectives = True
            continue
        if in_objectives:
            if stripped.startswith(("- ", "* ")):
                objectives.append(_strip_markdown(stripped[2:]))
                continue
            if objectives and not stripped:
                in_objectives = False
            elif objectives and not line.startswith((" ", "\t")):
                in_objectives = False
            elif objectives:
                objectives[-1] += " " + _strip_markdown(stripped)
                continue
        if stripped and not stripped.startswith(("**", "- ", "* ")) and not objectives:
            paragraphs.append(stripped)
    if not objectives:
        raise ValueError(f"{title_match.group(2)!r}: the first cell needs a '**What you will learn**' bullet list")
    summary = _strip_markdown(" ".join(paragraphs)) or objectives[0][0].upper() + objectives[0][1:]
    exercises = 0
    for text in markdown:
        heading = EXERCISES_HEADING.search(text)
        if heading:
            section = text[heading.end() :]
            solutions = re.search(r"^#{2,4}\s*Solutions?\b", section, re.IGNORECASE | re.MULTILINE)
            section = section[: solutions.start()] if solutions else section
            exercises = len(re.findall(r"^\d+\.\s", section, re.MULTILINE))
    return Frame(
        title=_strip_markdown(title_match.group(2)),
        summary=summary,
        objectives=objectives,
        prerequisites=_strip_markdown(_labelled(head, "Prerequisites")),
        expected_runtime=_strip_markdown(_labelled(head, "Expected runtime")),
        exercises=exercises,
    )


def _output_lines(cell: Any) -> tuple[int, bool]:
    """(number of text lines, has an image) over a code cell's outputs."""
    lines, image = 0, False
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            text = output.get("text", "")
            lines += len((text if isinstance(text, str) else "".join(text)).splitlines())
        data = output.get("data", {})
        if any(key.startswith("image/") for key in data):
            image = True
        elif "text/html" in data:
            html = data["text/html"]
            lines += (html if isinstance(html, str) else "".join(html)).count("<tr")
        elif "text/plain" in data:
            text = data["text/plain"]
            lines += len((text if isinstance(text, str) else "".join(text)).splitlines())
    return lines, image


def _add_tag(cell: Any, tag: str) -> None:
    tags = list(cell.setdefault("metadata", {}).get("tags", []))
    if tag not in tags:
        tags.append(tag)
    cell["metadata"]["tags"] = tags


def slide_type(cell: Any, index: int) -> str:
    """The reveal.js slide type for a cell at position ``index``: "slide", "subslide" or "-"."""
    source = _source(cell).lstrip()
    if cell["cell_type"] == "markdown":
        if index == 0 or source.startswith("# ") or source.startswith("## "):
            return "slide"
        if source.startswith("### "):
            return "subslide"
        return "-"
    lines, image = _output_lines(cell)
    return "subslide" if image or lines > LONG_OUTPUT_LINES else "-"


def tag_cells(nb: Any) -> Any:
    """Set slide types, solution, training and cached tags on every cell of ``nb`` (in place); return ``nb``."""
    in_solutions = after_exercises = False
    for index, cell in enumerate(nb["cells"]):
        source = _source(cell)
        metadata = cell.setdefault("metadata", {})
        if after_exercises:  # every cell after the exercises is a solution, unless a new section starts
            in_solutions = True
        if cell["cell_type"] == "markdown":
            first = source.lstrip()
            if SOLUTIONS_HEADING.match(first):
                in_solutions = True
            elif (first.startswith("## ") or first.startswith("# ")) and not EXERCISES_HEADING.search(source):
                in_solutions = after_exercises = False
            if EXERCISES_HEADING.search(source):
                after_exercises = True
        metadata["slideshow"] = {"slide_type": slide_type(cell, index)}
        if in_solutions:
            _add_tag(cell, SOLUTION_TAG)
            if cell["cell_type"] == "code":
                metadata.setdefault("jupyter", {})["source_hidden"] = True
        if cell["cell_type"] == "code" and TRAINING_CODE.search(source):
            _add_tag(cell, TRAINING_TAG)
        if cell["cell_type"] == "code" and CACHED_CODE.match(source):
            _add_tag(cell, CACHED_TAG)
    return nb


def changed_by_present_mode(nb: Any) -> bool:
    """True when present mode or a cache filled by an earlier run can change what ``nb`` executes: a code cell calls
    ``train_or_load``/``run_or_load`` (utils.present) or is a ``# cached:`` cell. ``make test``'s second pass, in present
    mode on the caches the first pass filled, runs these notebooks; the others would run the same code on the same
    inputs again."""
    return any(
        cell["cell_type"] == "code" and (PRESENT_CODE.search(_source(cell)) or CACHED_CODE.match(_source(cell)))
        for cell in nb["cells"]
    )


def has_tag(cell: Any, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def student_copy(nb: Any) -> Any:
    """A learner's copy of ``nb`` (in place): solution cells removed, outputs and execution counts cleared.

    Raises ValueError when the notebook has exercises but no cell tagged ``solution`` (run the tagging first:
    ``python -m utils.book tag``), so that a student copy never silently keeps the answers.
    """
    has_exercises = any(c["cell_type"] == "markdown" and EXERCISES_HEADING.search(_source(c)) for c in nb["cells"])
    kept = [c for c in nb["cells"] if not has_tag(c, SOLUTION_TAG)]
    if has_exercises and len(kept) == len(nb["cells"]):
        raise ValueError("no cell is tagged 'solution': run `python -m utils.book tag` before making student copies")
    for cell in kept:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    nb["cells"] = kept
    return nb
