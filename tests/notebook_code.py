"""A notebook's own code, read by tests: the tests check the code learners read, not a copy of it."""

from __future__ import annotations

import json
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def notebook_cell(notebook: Path, marker: str) -> str:
    """The source of the single code cell of ``notebook`` that contains ``marker`` (fails if not exactly one)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    found = ["".join(c["source"]) for c in cells if c["cell_type"] == "code" and marker in "".join(c["source"])]
    assert len(found) == 1, f"expected one code cell containing {marker!r} in {notebook.name}, found {len(found)}"
    return found[0]


def run_cells(notebook: Path, markers, namespace: dict | None = None) -> dict:
    """Execute the cells containing each of ``markers``, in order, into one namespace (IPython magics skipped)."""
    namespace = {} if namespace is None else namespace
    for marker in markers:
        source = "\n".join(line for line in notebook_cell(notebook, marker).splitlines() if not line.startswith("%"))
        exec(compile(source, f"{notebook.name}[{marker}]", "exec"), namespace)
    return namespace
