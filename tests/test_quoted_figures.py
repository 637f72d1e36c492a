"""No stale figures: every number a notebook's prose quotes is traceable to that notebook's final run.

The same defect came back after every revision: prose written before the final run (a label the model no longer
gives, a runtime from an older recipe, an effect size from an earlier draft). This guard runs in ``make test`` and
``make test-fast`` (no notebook is executed: it reads the committed notebooks, their outputs and
``notebooks/timings.json``; about a second for all of them).

What counts as a figure and what supports one is defined in ``tests/quoted_figures.py`` (its docstring). In short:
decimals, percentages, numbers of at least 100 and durations in a notebook's markdown, and in its row of the README's
notebook table, must be found in the notebook's outputs, code or recorded timings (rounding allowed), or be listed in
the markdown cell's metadata with a reason: ``"figures": {"0.5": "setting: the decision threshold"}``,
``{"2017": ...}`` is not needed (years are not figures), ``{"+80%": "= 1408 / 782 - 1"}`` (arithmetic on printed
figures, itself checked). A failure names the notebook, the cell, the figure with its context and the fix.

The unit tests below prove the guard catches what it is for; the parametrised tests apply it to every notebook.
"""

import json

import pytest

from tests import quoted_figures as q

NOTEBOOKS = sorted(q.NOTEBOOK_DIR.glob("*.ipynb"))
TIMINGS = q.load_timings()


def notebook(markdown, outputs="", code="", metadata=None):
    return {
        "cells": [
            {"cell_type": "markdown", "metadata": metadata or {}, "source": markdown},
            {
                "cell_type": "code",
                "metadata": {},
                "source": code,
                "outputs": [{"output_type": "stream", "text": outputs}],
            },
        ]
    }


def problems(markdown, outputs="", code="", metadata=None, timings=None, tmp_path=None):
    path = tmp_path / "99_test.ipynb"
    path.write_text(json.dumps(notebook(markdown, outputs, code, metadata)))
    return q.check_notebook(path, timings)


def test_what_counts_as_a_figure():
    quoted = [
        f.text
        for f in q.figures_in(
            "Accuracy 0.854 on 1,408 rows (71% of them, −0.63 mean), lr 5e-5; trained in 208 s, about 4½ minutes, "
            "a 10-second tour, 1½–2 minutes, half a minute. Not: 3 epochs, notebook 18, (Caliskan, 2017), "
            "SmolLM2-135M, CoNLL-2003, `max_length=512`, [a link](https://example.org/0.5).\n```python\nx = 0.123\n```"
        )
    ]
    assert quoted == [
        "0.854",
        "1,408",
        "71%",
        "−0.63",
        "5e-5",
        "208 s",
        "4½ minutes",
        "10-second",
        "1½–2 minutes",
        "half a minute",
    ]


def test_a_figure_found_in_the_outputs_passes_rounded_or_not(tmp_path):
    outputs = "accuracy 0.46123, rows 1408, share 0.7098, trained in 208.3 s"
    count, found = problems("0.46, 0.461, 1,408, 71%, 70.98%, 208 s", outputs, tmp_path=tmp_path)
    assert (count, found) == (6, [])


def test_a_stale_figure_is_reported_with_its_cell_context_and_a_fix(tmp_path):
    _, found = problems("The model scores 0.871 here.", "accuracy 0.854", tmp_path=tmp_path)
    assert found == [
        "99_test.ipynb cell 0: '0.871' (…The model scores 0.871 here.…) is in no output, code or timing of the run"
    ]
    # rounding goes one way only: 0.85 does not support 0.854
    assert problems("0.854", "0.85", tmp_path=tmp_path)[1]
    assert "metadata" in q.fix_hint() and "setting:" in q.fix_hint()


def test_code_supports_a_figure_and_so_does_arithmetic_marked_in_the_metadata(tmp_path):
    assert problems("learning rate 5e-5", code="learning_rate = 5e-5", tmp_path=tmp_path)[1] == []
    derived = {"figures": {"+80%": "= 1408 / 782 - 1", "2.8": "= 894 / 323"}}
    outputs = "782 rows, 1408 rows; 894 and 323 tokens/s"
    assert problems("rows +80%, 2.8× faster", outputs, metadata=derived, tmp_path=tmp_path)[1] == []
    # the arithmetic is recomputed, and each of its numbers must be printed: when the run changes, it goes stale
    _, found = problems(
        "rows +80%", "782 rows, 1400 rows", metadata={"figures": {"+80%": "= 1408 / 782 - 1"}}, tmp_path=tmp_path
    )
    assert found == [
        "99_test.ipynb cell 0: metadata figures['+80%'] = '= 1408 / 782 - 1': 1408 is in no output, code or timing of the run"
    ]
    _, found = problems(
        "rows +70%", "782 rows, 1408 rows", metadata={"figures": {"+70%": "= 1408 / 782 - 1"}}, tmp_path=tmp_path
    )
    assert found == ["99_test.ipynb cell 0: metadata figures['+70%'] = '= 1408 / 782 - 1' gives 0.800512, not +70%"]


def test_settings_and_references_need_a_reason_and_a_stale_entry_is_reported(tmp_path):
    ok = {"figures": {"0.5": "setting: the decision threshold", "30,522": "reference: BERT's vocabulary"}}
    assert problems("above 0.5; 30,522 pieces", metadata=ok, tmp_path=tmp_path)[1] == []
    _, found = problems("above 0.5", metadata={"figures": {"0.5": "threshold"}}, tmp_path=tmp_path)
    assert found == [
        "99_test.ipynb cell 0: metadata figures['0.5']: the reason must start with 'setting:', "
        "'reference:' or '=', got 'threshold'"
    ]
    _, found = problems("above 0.6", metadata={"figures": {"0.5": "setting: the threshold"}}, tmp_path=tmp_path)
    assert "'0.6'" in found[0] and "figures['0.5'] names a figure the cell no longer quotes" in found[1]


def test_durations_are_matched_to_the_recorded_times(tmp_path):
    timings = {
        "full": {"total_seconds": 241.9, "cells": [{"cell": 3, "seconds": 208.31}, {"cell": 5, "seconds": 77.1}]},
        "smoke": {"total_seconds": 18.7, "cells": []},
    }
    runtime = (
        "**Expected runtime:** about {} on a 2-core laptop CPU (242 s, of which 208 s training); {} in smoke mode."
    )
    assert problems(runtime.format("4 minutes", "about 20 seconds"), timings=timings, tmp_path=tmp_path)[1] == []
    assert (
        problems(runtime.format("under 4½ minutes", "under half a minute"), timings=timings, tmp_path=tmp_path)[1] == []
    )
    _, found = problems(runtime.format("4½ minutes", "about 20 seconds"), timings=timings, tmp_path=tmp_path)
    assert found[0] == (
        "99_test.ipynb cell 0: '4½ minutes' after 'Expected runtime' does not match the full-mode total "
        "in notebooks/timings.json (242 s)"
    )
    assert len(found) == 1
    # a range must contain a measured time: the embedding took 77.1 s, not 1½–2 minutes
    assert problems(
        "embedded in 1½–2 minutes", timings={"full": timings["full"] | {"total_seconds": 20}}, tmp_path=tmp_path
    )[1]
    assert problems("embedded in 77 s", timings=timings, tmp_path=tmp_path)[1] == []
    # a time printed by the run, or Trainer's bar (03:26), counts
    assert problems("trained in 206 s", "[530/530 03:26, Epoch 2/2]", tmp_path=tmp_path)[1] == []


def test_readme_rows_are_checked_against_their_notebook(tmp_path):
    nb = notebook("quoted 0.5", "accuracy 0.854", metadata={"figures": {"0.5": "setting: threshold"}})
    assert q.check_readme_row(" Ten | accuracy 0.854 at 0.5 ", nb, None) == (2, [])
    count, found = q.check_readme_row(" Ten | accuracy 0.871 ", nb, None)
    assert count == 1 and "'0.871'" in found[0]
    assert (
        q.readme_rows("| # | notebook |\n|---|---|\n| 07 | Datasets | loading 1.5 |\n")["07"]
        == " Datasets | loading 1.5 "
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_in_a_notebook_is_traceable_to_its_run(path):
    count, found = q.check_notebook(path, TIMINGS.get(path.stem))
    assert not found, (
        f"{len(found)} of {count} quoted figures are unsupported:\n" + "\n".join(found) + "\n" + q.fix_hint()
    )


def test_every_figure_in_the_readme_notebook_table_is_traceable_to_its_notebook():
    rows = q.readme_rows((q.REPO / "README.md").read_text(encoding="utf-8"))
    assert sorted(rows) == [path.name[:2] for path in NOTEBOOKS], "the README's notebook table and notebooks/ differ"
    found = []
    for number, row in rows.items():
        path = next(q.NOTEBOOK_DIR.glob(f"{number}_*.ipynb"))
        _, row_problems = q.check_readme_row(row, json.loads(path.read_text(encoding="utf-8")), TIMINGS.get(path.stem))
        found += [f"README.md, row {number}: {problem}" for problem in row_problems]
    assert not found, "\n".join(found) + "\n" + q.fix_hint()
