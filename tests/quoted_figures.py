"""Figures quoted in a notebook's prose, and whether the notebook's own run supports each one.

Prose is written before the final run and goes stale when a notebook is re-executed: the run prints 0.654
NEGATIVE while the markdown still says POSITIVE, or "about 4½ minutes" for a run of 243 s. This module finds the
figures a reader would take as results and looks for each one in what the notebook's final run left behind.

A **figure** (in markdown, outside inline code, code blocks and link targets) is:

- a number with a decimal point or an exponent (``0.854``, ``−0.63``, ``5.5e-6``), a percentage (``71%``), or a
  number of at least 100 (``1,408``, ``243``);
- a duration: any number, ``½`` or "half a" before a time unit (``77 s``, ``10-second``, ``about 4½ minutes``,
  ``1½–2 minutes``, ``half a minute``).

Not figures: years (an integer from 1800 to 2099 written without a thousands separator: ``(Caliskan et al.,
2017)``), numbers inside names (``SmolLM2-135M``, ``CoNLL-2003``, ``all-MiniLM-L6-v2``), small integers (counts
of epochs, notebook numbers: too many to be worth it, and rarely stale).

A figure is **supported** when one of these holds:

1. The notebook's outputs or code hold the same number, or one that rounds to it at the figure's precision
   (``0.46`` from a printed ``0.4612``; ``71%`` from ``0.7098`` or ``71.0``; ``1,408`` from ``1408``).
2. A duration matches a measured time of the notebook within half the figure's resolution (``77 s`` ± 0.5 s,
   ``about 10 seconds`` ± 5 s, ``about 4½ minutes`` ± 15 s, ``about 3 minutes`` ± 30 s); a range (``1½–2 minutes``)
   must contain one; "under"/"up to" a time must be at least one. A time in seconds or milliseconds may also be printed
   without its unit, with decimals (``0.71 s`` from ``{'batched=True': 0.71}``, ``75 s`` from a column of ``75.0``). Measured times are the notebook's full-mode total
   and per-cell times in ``notebooks/timings.json`` (written by the run that made the committed outputs, or by a
   later ``make timings``), the smoke-mode total, and times printed in the outputs (``208 s``, ``03:26``). The
   duration after "Expected runtime" must match the full-mode total itself, unless it has a metadata entry (a
   time measured outside the recorded run, named as such).
3. The markdown cell's metadata lists it under ``"figures"``, keyed by the figure as written, with a reason of one
   of three kinds:

   - ``"setting: ..."``: a number the notebook chooses and states (a threshold, a size used in an exercise);
   - ``"reference: ..."``: a number from outside this notebook (a paper, a library default, another notebook);
   - ``"= <arithmetic>"``: a figure derived from printed ones (``{"+80%": "= 1408 / 782 - 1"}``;
     ``{"2.8": "= 894 / 323"}`` for "2.8× faster"; ``round(510 / 1.37, -1)`` for "about 370"): every figure in the arithmetic (small integers, 100, 1000,
     1024 and 3600 are constants) must itself be supported by rule 1 or be a recorded time, and the result (or 100 times it, for a
     percentage) must round to the figure. A derived figure therefore goes stale loudly, like a printed one.

   An entry whose figure no longer appears in the cell is itself reported (stale allow-list).

What it does not prove: that a figure is the *right* printed number. Support is looked for in the whole notebook, so
a stale "0.24" passes if any output prints 0.24 (notebook 14 had such a sentence, about bars no cell prints), and a
wrong reading of a right number ("fear, the intended reading") passes too. Reading the prose against the outputs is
still needed; the guard makes the mechanical part, figures that no run printed, fail at once.

The metadata is invisible when the notebook is read (JupyterLab shows it in the property inspector), so the prose
stays as a learner reads it. A figure in the README's notebook table is supported by its notebook: by rule 1 or 2,
or by the same figure quoted in the notebook's markdown with a metadata entry.
"""

from __future__ import annotations

import ast
import json
import operator
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
TIMINGS = NOTEBOOK_DIR / "timings.json"
REASON_KINDS = ("setting:", "reference:", "=")

_MINUS = "−"  # the typographic minus prose uses
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-−+]?\d+)?"
_UNIT = {
    "ms": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
}
_UNITS = "|".join(sorted(_UNIT, key=len, reverse=True))
_AMOUNT = rf"(?:{_NUMBER}½?|½|half an?)"
# a duration: "77 s", "10-second", "4½ minutes", "1½–2 minutes", "1½ to 2 minutes", "half a minute"
_DURATION = re.compile(
    rf"(?<![\w.])(?P<qualifier>(?:about|under|up to|at most|less than|below|over|nearly|almost|~|≈)\s+)?"
    rf"(?P<low>{_AMOUNT})(?:\s*(?:–|-|to)\s*(?P<high>{_AMOUNT}))?[\s-]?(?P<unit>{_UNITS})\b",
    re.IGNORECASE,
)
_FIGURE = re.compile(rf"(?<![\w.])(?P<sign>[-−+])?(?P<number>{_NUMBER})(?P<percent>\s?%)?")
# hyphenated names that hold digits: SmolLM2-135M-Instruct, CoNLL-2003, all-MiniLM-L6-v2, Q4_1
_NAME = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:[-_/][A-Za-z0-9.]*[A-Za-z0-9])+\b")
_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_CLOCK = re.compile(r"(?<![\d:])(?:(\d+):)?(\d{1,2}):(\d\d)(?![\d:])")  # Trainer's bar: 03:26, 1:02:03


@dataclass(frozen=True)
class Figure:
    text: str  # as written in the cell, the key of a metadata entry
    value: float  # absolute value; seconds for a duration
    tolerance: float  # half the figure's resolution, in the same unit as value
    kind: str  # "number", "percent" or "duration"
    start: int  # offset in the cleaned cell text
    high: float | None = None  # a duration range's upper end
    qualifier: str = ""  # "about", "under"...
    printed: bool = False  # a duration in seconds or milliseconds: a number printed without its unit also supports it


def prose(markdown: str) -> str:
    """The markdown a reader reads as prose: code, link targets, comments and digit-bearing names blanked.

    Blanked with spaces of the same length, so that offsets stay those of the source.
    """

    def blank(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    for pattern in (_CODE_BLOCK, _INLINE_CODE, _LINK_TARGET, _HTML_COMMENT):
        markdown = pattern.sub(blank, markdown)
    return _NAME.sub(lambda m: blank(m) if re.search(r"\d", m.group(0)) else m.group(0), markdown)


def _parse(number: str) -> tuple[float, int]:
    """(value, decimals) of a number as written: ``1,408`` → (1408, 0), ``0.460`` → (0.46, 3), ``5e-6`` → (5e-06, 6)."""
    number = number.replace(",", "").replace(_MINUS, "-")
    value = float(number)
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.partition(".")[2]) - (int(exponent) if exponent else 0)
    return abs(value), decimals


def _amount(text: str) -> tuple[float, float]:
    """(value, resolution) of a duration's amount: ``4½`` → (4.5, 0.5), ``30`` → (30, 10), ``77.1`` → (77.1, 0.1)."""
    text = text.lower()
    if text.startswith("half"):
        return 0.5, 0.5
    half = text.endswith("½")
    text = text.rstrip("½")
    if not text:
        return 0.5, 0.5
    value, decimals = _parse(text)
    if half:
        return value + 0.5, 0.5
    if decimals > 0:
        return value, 10.0**-decimals
    digits = text.replace(",", "")
    zeros = len(digits) - len(digits.rstrip("0"))
    return value, 10.0 ** min(zeros, len(digits) - 1)


def _is_year(number: str) -> bool:
    return bool(re.fullmatch(r"1[89]\d\d|20\d\d", number))


def figures_in(markdown: str) -> list[Figure]:
    """Every figure quoted in a markdown cell, in order (see the module docstring for what counts)."""
    text = prose(markdown)
    found: list[Figure] = []
    taken: list[range] = []
    for match in _DURATION.finditer(text):
        scale = _UNIT[match.group("unit").lower()]
        low, resolution = _amount(match.group("low"))
        high = _amount(match.group("high"))[0] * scale if match.group("high") else None
        written = match.group(0)[len(match.group("qualifier") or "") :].strip()
        found.append(
            Figure(
                text=written,
                value=low * scale,
                tolerance=resolution * scale / 2,
                kind="duration",
                start=match.start("low"),
                high=high,
                qualifier=(match.group("qualifier") or "").strip().lower(),
                printed=scale < 60 and high is None and not match.group("low").lower().startswith("half"),
            )
        )
        taken.append(range(match.start(), match.end()))
    for match in _FIGURE.finditer(text):
        if any(match.start() in span for span in taken):
            continue
        number, percent = match.group("number"), match.group("percent")
        value, decimals = _parse(number)
        is_figure = "." in number or "e" in number.lower() or percent or value >= 100
        if not is_figure or (not percent and _is_year(number)):
            continue
        written = (match.group("sign") or "") + number + (percent or "")
        found.append(
            Figure(
                text=written.strip(),
                value=value,
                tolerance=0.5 * 10.0**-decimals,
                kind="percent" if percent else "number",
                start=match.start("number"),
            )
        )
    return sorted(found, key=lambda figure: figure.start)


@dataclass
class Evidence:
    """What a notebook's final run left behind: every number in its outputs and code, and its measured times."""

    numbers: list[float]
    seconds: list[float]
    total_seconds: float | None
    printed_decimals: tuple[float, ...] = ()  # numbers the outputs print with a decimal point (75.0, 0.71)

    def has_number(self, value: float, tolerance: float, percent: bool = False) -> bool:
        margin = tolerance + 1e-9 * max(1.0, value)
        candidates = self.numbers
        if any(abs(x - value) <= margin for x in candidates):
            return True
        return percent and any(abs(100 * x - value) <= margin for x in candidates)

    def has_duration(self, figure: Figure, times: list[float] | None = None) -> bool:
        times = self.seconds if times is None else times
        margin = 1e-9 * max(1.0, figure.value)
        if figure.high is not None:
            return any(figure.value - margin <= t <= figure.high + margin for t in times)
        if figure.qualifier in ("under", "up to", "at most", "less than", "below"):
            return any(t <= figure.value + margin for t in times)
        if figure.qualifier == "over":
            return any(t >= figure.value - margin for t in times)
        return any(abs(t - figure.value) <= figure.tolerance + margin for t in times)


def _numbers(text: str) -> list[float]:
    return [_parse(m.group("number"))[0] for m in _FIGURE.finditer(text)]


def _output_text(output: dict) -> str:
    if "text" in output:
        return "".join(output["text"])
    data = output.get("data", {})
    return "\n".join("".join(value) for key, value in data.items() if key.startswith("text/"))


def evidence(nb: dict, timings: dict | None = None) -> Evidence:
    """The numbers and times a notebook (its JSON) and its timing record (one entry of timings.json) hold."""
    code, outputs = [], []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            code.append("".join(cell["source"]))
            outputs.extend(_output_text(output) for output in cell.get("outputs", []))
    numbers = _numbers("\n".join(code + outputs))
    seconds = []
    for text in outputs:
        for match in re.finditer(rf"(?<![\w.])({_NUMBER})\s?(ms|s|sec|seconds?|min|minutes?)\b", text):
            seconds.append(_parse(match.group(1))[0] * _UNIT[match.group(2)])
        for match in _CLOCK.finditer(text):
            hours, minutes, secs = (int(part) if part else 0 for part in match.groups())
            seconds.append(3600 * hours + 60 * minutes + secs)
    total = None
    for mode, record in (timings or {}).items():
        if record.get("total_seconds") is not None:
            seconds.append(record["total_seconds"])
            if mode == "full":
                total = record["total_seconds"]
        if mode == "full":
            seconds.extend(cell["seconds"] for cell in record.get("cells", []) if cell.get("seconds") is not None)
    printed = tuple(_parse(m.group("number"))[0] for m in _FIGURE.finditer("\n".join(outputs)) if "." in m.group(0))
    return Evidence(numbers=numbers, seconds=seconds, total_seconds=total, printed_decimals=printed)


_CONSTANTS = (100, 1000, 3600, 1024)
_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


def derived(expression: str) -> tuple[float, list[str]]:
    """The value of a derived figure's arithmetic (``1408 / 782 - 1``) and the numbers it is made of, as written."""
    literals: list[str] = []

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "round" and not node.keywords:
            digits = int(value(node.args[1])) if len(node.args) == 2 else 0
            if len(node.args) == 2:
                literals.pop()  # the digits are not a figure
            return round(value(node.args[0]), digits)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            literals.append(ast.get_source_segment(expression, node) or str(node.value))
            return float(node.value)
        raise ValueError(
            f"only numbers, + - * / ** ( ) and round() are allowed in a derived figure, not {ast.dump(node)}"
        )

    expression = re.sub(r"(?<=\d),(?=\d{3}\b)", "", expression)  # 1,408 -> 1408; round(x, -1) keeps its comma
    return value(ast.parse(expression, mode="eval").body), literals


def check_markdown(source: str, allowed: dict, facts: Evidence, runtime_line: bool = False) -> list[str]:
    """Why each unsupported figure of one markdown cell is unsupported (an empty list when all are supported)."""
    problems = []
    figures = figures_in(source)
    written = {figure.text for figure in figures}
    reported = None  # the runtime figure, reported once
    if runtime_line:
        heading = source.find("Expected runtime")
        after = [f for f in figures if f.kind == "duration" and f.start > heading] if heading >= 0 else []
        runtime = after[0] if after and after[0].text not in allowed else None
        if runtime and facts.total_seconds is not None and not facts.has_duration(runtime, [facts.total_seconds]):
            problems.append(
                f"'{after[0].text}' after 'Expected runtime' does not match the full-mode total in "
                f"notebooks/timings.json ({facts.total_seconds:.0f} s)"
            )
            reported = runtime
    for figure in figures:
        if figure.text in allowed or figure is reported:
            continue
        if figure.kind == "duration":
            supported = facts.has_duration(figure) or (figure.printed and _printed(figure, facts))
        else:
            supported = facts.has_number(figure.value, figure.tolerance, percent=figure.kind == "percent")
        if not supported:
            problems.append(f"'{figure.text}' ({_context(source, figure)}) is in no output, code or timing of the run")
    for key, reason in allowed.items():
        problems.extend(_check_entry(key, reason, written, facts))
    return problems


def _printed(figure: Figure, facts: Evidence) -> bool:
    """A duration in seconds or ms as the run printed it without a unit (``{'batched=True': 0.71}`` for ``0.71 s``)."""
    amount = _FIGURE.search(figure.text)
    if amount is None:
        return False
    value, decimals = _parse(amount.group("number"))
    # only numbers printed with decimals: integers are printed everywhere (counts, indices, sizes)
    return any(abs(x - value) <= 0.5 * 10.0**-decimals + 1e-9 for x in facts.printed_decimals)


def _check_entry(key: str, reason: object, written: set[str], facts: Evidence) -> list[str]:
    if key not in written:
        return [f"metadata figures['{key}'] names a figure the cell no longer quotes: remove the entry"]
    if not isinstance(reason, str) or not reason.strip().startswith(REASON_KINDS) or len(reason.strip()) < 4:
        return [
            f"metadata figures['{key}']: the reason must start with 'setting:', 'reference:' or '=', got {reason!r}"
        ]
    if not reason.strip().startswith("="):
        return []
    try:
        result, literals = derived(reason.strip()[1:].strip())
    except (SyntaxError, ValueError, ZeroDivisionError) as error:
        return [f"metadata figures['{key}']: cannot compute {reason!r}: {error}"]
    problems = []
    for literal in literals:
        number, decimals = _parse(literal)
        if decimals <= 0 and (number < 100 or number in _CONSTANTS):
            continue  # a constant of the arithmetic (1, 2, 100, 60...), not a figure
        tolerance = 0.5 * 10.0**-decimals
        if not facts.has_number(number, tolerance) and not any(abs(t - number) <= tolerance for t in facts.seconds):
            problems.append(
                f"metadata figures['{key}'] = {reason!r}: {literal} is in no output, code or timing of the run"
            )
    (figure,) = figures_in(key) or [None]
    if figure is None:
        return problems + [f"metadata figures['{key}']: not a figure"]
    targets = [abs(result), 100 * abs(result)] if figure.kind == "percent" else [abs(result)]
    if all(abs(target - figure.value) > figure.tolerance + 1e-9 * max(1.0, figure.value) for target in targets):
        problems.append(f"metadata figures['{key}'] = {reason!r} gives {result:.6g}, not {key}")
    return problems


def _context(source: str, figure: Figure) -> str:
    start, end = max(0, figure.start - 50), min(len(source), figure.start + len(figure.text) + 30)
    return "…" + re.sub(r"\s+", " ", source[start:end]).strip() + "…"


def check_notebook(path: Path, timings: dict | None = None) -> tuple[int, list[str]]:
    """(number of figures checked, problems) for one notebook; ``timings`` is its entry of timings.json."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    facts = evidence(nb, timings)
    count, problems = 0, []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
        allowed = cell.get("metadata", {}).get("figures", {})
        count += len(figures_in(source))
        for problem in check_markdown(source, allowed, facts, runtime_line="Expected runtime" in source):
            problems.append(f"{path.name} cell {index}: {problem}")
    return count, problems


def allowed_figures(nb: dict) -> set[str]:
    """The figures a notebook's markdown quotes with a metadata entry (setting, reference or derived)."""
    return {
        key for cell in nb["cells"] if cell["cell_type"] == "markdown" for key in cell["metadata"].get("figures", {})
    }


def readme_rows(readme: str) -> dict[str, str]:
    """The README's notebook table: ``{"00": "Welcome | the modes, the kit, ..."}``."""
    rows = {}
    for line in readme.splitlines():
        match = re.match(r"\|\s*(\d\d)\s*\|(.*)\|\s*$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def check_readme_row(row: str, nb: dict, timings: dict | None) -> tuple[int, list[str]]:
    """(figures checked, problems) for one row of the README's notebook table, against its notebook."""
    facts = evidence(nb, timings)
    problems = check_markdown(row, {key: "reference: the notebook's prose" for key in allowed_figures(nb)}, facts)
    return len(figures_in(row)), [p for p in problems if not p.startswith("metadata figures")]


def load_timings() -> dict:
    return json.loads(TIMINGS.read_text(encoding="utf-8")).get("notebooks", {})


def fix_hint() -> str:
    return (
        "fix: correct the prose from the notebook's outputs (or re-run it), or, for a setting, an outside reference "
        'or arithmetic on printed figures, add to that markdown cell\'s metadata "figures": {"<figure as written>": '
        '"setting: <why>" | "reference: <source>" | "= <arithmetic on printed figures>"} (tests/quoted_figures.py)'
    )
