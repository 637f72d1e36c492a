"""Committed notebooks are what a learner sees: executed top to bottom in full mode, small, clean."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
MACHINE_PATH = re.compile(r"/(root|home|tmp|work|Users)/")


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"
    assert NOTEBOOKS[0].name == "00_welcome.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_top_to_bottom_with_outputs(path):
    cells = code_cells(load(path))
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1)), (
        f"{path.name}: run `make refresh NB={path.name[:2]}` (fresh kernel, top to bottom)"
    )
    assert any(c["outputs"] for c in cells), f"{path.name} has no outputs"
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name} was committed with an error output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_come_from_a_full_mode_run(path):
    outputs = json.dumps([c["outputs"] for c in code_cells(load(path))])
    assert "SMOKE MODE" not in outputs, f"{path.name}: committed outputs are from a smoke run"
    assert "PRESENT MODE" not in outputs and "present mode: loaded run" not in outputs, (
        f"{path.name}: committed outputs are from a present-mode run (saved results, not this run's training)"
    )
    assert "Full mode." in outputs, f"{path.name}: the first cell should print utils.banner()"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_volatile_metadata_or_machine_paths(path):
    nb = load(path)
    assert set(nb["metadata"]) <= {"kernelspec", "language_info"}, f"{path.name}: volatile notebook metadata"
    for cell in nb["cells"]:
        assert not ({"execution", "ExecuteTime"} & set(cell.get("metadata", {}))), f"{path.name}: cell timings"
    outputs = json.dumps([c.get("outputs", []) for c in nb["cells"]])
    match = MACHINE_PATH.search(outputs)
    assert not match, (
        f"{path.name}: machine path in outputs near {outputs[max(0, match.start() - 60) : match.end() + 60]!r}"
    )
    assert "application/vnd.jupyter.widget-state+json" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_size_under_one_megabyte(path):
    assert path.stat().st_size < 1_000_000, f"{path.name} is {path.stat().st_size / 1e6:.2f} MB"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_frame_objectives_runtime_summary_exercises(path):
    text = "\n".join("".join(c["source"]) for c in load(path)["cells"] if c["cell_type"] == "markdown")
    for heading in ("What you will learn", "Prerequisites", "Expected runtime", "## Summary", "## Exercises"):
        assert heading.lower() in text.lower(), f"{path.name} lacks '{heading}'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_training_shows_a_progress_bar(path):
    """An instructor waits on training cells live: each Trainer shows its bar, each hand-written loop a tqdm bar.

    The Makefile sets TRANSFORMERS_VERBOSITY=error, and transformers then hides the Trainer's bar unless
    ``disable_tqdm=False`` is passed. Finished tqdm bars keep their final text in the committed notebooks.
    """
    for source in ("".join(cell["source"]) for cell in code_cells(load(path))):
        if "TrainingArguments(" in source:
            assert "disable_tqdm=False" in source, f"{path.name}: pass disable_tqdm=False to TrainingArguments"
        if re.search(r"^\s*for epoch in ", source, re.MULTILINE) and "loss.backward()" in source:
            assert "tqdm(" in source or "progress_bar" in source, f"{path.name}: a training loop without a progress bar"
    text = path.read_text(encoding="utf-8")
    assert "|          | 0/" not in text, (
        f"{path.name}: a finished progress bar is stored at 0% (re-run with make refresh)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_scratch_folders_do_not_outlive_the_kernel(path):
    """A folder from tempfile.mkdtemp stays on disk for good (notebook 11 once left 600 MB per run): notebooks take
    their scratch folders from utils.scratch.scratch_folder, or remove a mkdtemp folder in the cell that made it."""
    leaking = [
        index
        for index, cell in enumerate(load(path)["cells"])
        if cell["cell_type"] == "code"
        and "mkdtemp(" in (source := "".join(cell["source"]))
        and not re.search(r"\.rmdir\(\)|rmtree\(", source)
    ]
    assert not leaking, f"{path.name} cells {leaking}: use utils.scratch.scratch_folder instead of tempfile.mkdtemp"
