"""The book's building blocks: notebook frames, cell tagging, student copies, slides and the timing report."""

import json
import os

import nbformat
import pytest

from utils.book import notebooks, pages, timings, vendor, workflows
from utils.book.meta import changed_by_present_mode, read_frame, slide_type, student_copy, tag_cells


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, source, *outputs in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            cell = nbformat.v4.new_code_cell(source)
            cell.outputs = outputs[0] if outputs else []
            nb.cells.append(cell)
    return nb


FRAME = """# 07 · Datasets: slice and dice

Load, slice and save datasets.

**What you will learn**
- how to load *local* files
- how to `map` in batches,
  with indices
- how to save

**Prerequisites:** notebooks 00–02.

**Expected runtime:** about 1 minute."""


def sample():
    return _notebook(
        ("md", FRAME),
        ("code", "import utils"),
        ("md", "## 1. Loading"),
        ("code", "trainer.train()"),
        ("code", "plot()", [nbformat.v4.new_output("display_data", data={"image/png": "AAAA"})]),
        ("md", "### A detail"),
        (
            "code",
            "print('\\n'.join(map(str, range(40))))",
            [nbformat.v4.new_output("stream", name="stdout", text="\n".join(map(str, range(40))))],
        ),
        ("md", "## Summary\n\n- done"),
        ("md", "## Exercises\n\n1. Change this.\n2. Change that."),
        ("md", "### Solutions"),
        ("code", "answer = 42"),
        ("md", "Exercise 2: because."),
    )


def test_frame_is_read_from_the_first_cell():
    frame = read_frame(sample())
    assert frame.title == "Datasets: slice and dice"
    assert frame.summary == "Load, slice and save datasets."
    assert frame.objectives == ["how to load local files", "how to map in batches, with indices", "how to save"]
    assert frame.prerequisites == "notebooks 00–02."
    assert frame.expected_runtime == "about 1 minute."
    assert frame.exercises == 2


def test_frame_errors_name_the_fix():
    with pytest.raises(ValueError, match="'# NN · Title' heading"):
        read_frame(_notebook(("md", "no heading here")))
    with pytest.raises(ValueError, match="What you will learn"):
        read_frame(_notebook(("md", "# 01 · Title\n\nno objectives")))


def test_every_committed_notebook_has_a_readable_frame():
    for path in notebooks.notebook_paths():
        frame = read_frame(nbformat.read(path, as_version=4))
        assert frame.title and frame.objectives and frame.prerequisites and frame.expected_runtime, path.name


def test_tagging_sets_slides_solutions_and_training():
    nb = tag_cells(sample())
    types = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    assert types == [
        "slide",
        "-",
        "slide",
        "-",
        "subslide",
        "subslide",
        "subslide",
        "slide",
        "slide",
        "subslide",
        "-",
        "-",
    ]
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert tags[3] == ["training"] and all("training" not in t for i, t in enumerate(tags) if i != 3)
    assert [i for i, t in enumerate(tags) if "solution" in t] == [9, 10, 11]
    assert nb.cells[10].metadata["jupyter"]["source_hidden"] is True
    assert slide_type(nb.cells[1], 1) == "-"


def test_cached_tag_needs_the_comment_on_the_first_line():
    nb = tag_cells(
        _notebook(
            ("md", FRAME),
            ("code", "# cached: saved to disk, a rerun loads it\nvectors = embed(texts)"),
            ("code", "x = 1\n# cached: not a first-line comment"),
            ("code", "# cachedness\ny = 2"),
        )
    )
    assert [c.metadata.get("tags", []) for c in nb.cells[1:]] == [["cached"], [], []]


def test_tagging_is_idempotent_and_keeps_hand_made_tags():
    nb = sample()
    nb.cells[1].metadata["tags"] = ["training"]
    once = json.dumps(tag_cells(nb), sort_keys=True)
    assert json.dumps(tag_cells(nb), sort_keys=True) == once
    assert nb.cells[1].metadata["tags"] == ["training"]


def test_student_copy_drops_solutions_and_outputs():
    nb = student_copy(tag_cells(sample()))
    sources = [c.source for c in nb.cells]
    assert "answer = 42" not in sources and "### Solutions" not in sources and "Exercise 2: because." not in sources
    assert "## Exercises\n\n1. Change this.\n2. Change that." in sources
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")


def test_student_copy_refuses_an_untagged_notebook():
    with pytest.raises(ValueError, match="python -m utils.book tag"):
        student_copy(sample())


def _executed_cell(start, end, source="x = 1", tags=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["execution"] = {"iopub.execute_input": start, "shell.execute_reply": end}
    cell.metadata["tags"] = list(tags)
    return cell


def test_cell_timings_and_the_slow_cell_report(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _executed_cell("2026-11-29T08:00:00.000Z", "2026-11-29T08:00:25.500Z", "slow()"),
        _executed_cell("2026-11-29T08:00:26Z", "2026-11-29T08:01:26Z", "trainer.train()", ["training"]),
        _executed_cell("2026-11-29T08:01:26Z", "2026-11-29T08:01:27Z", "# comment\nfast()"),
        _executed_cell("2026-11-29T08:01:27Z", "2026-11-29T08:02:07Z", "# cached: saved\nembed()", ["cached"]),
        nbformat.v4.new_code_cell("never_run()"),
    ]
    rows = timings.notebook_timings(nb)
    assert [r["seconds"] for r in rows] == [25.5, 60.0, 1.0, 40.0, None]
    assert rows[2]["code"] == "fast()" and [r["cached"] for r in rows] == [False, False, False, True, False]
    store = tmp_path / "timings.json"
    timings.record("99_demo", "full", 90.0, rows, store)
    timings.record("99_demo", "smoke", 5.0, [dict(r, seconds=1.0) for r in rows], store)
    data = timings.load(store)
    assert timings.total_seconds("99_demo", "full", store) == 90.0
    assert [(r["notebook"], r["cell"]) for r in timings.slow_cells(data)] == [("99_demo", 0)]
    assert [(r["notebook"], r["cell"]) for r in timings.slow_cells(data, cached=True)] == [("99_demo", 3)]
    report = timings.format_report(data)
    assert "99_demo cell 0 (25.5 s)" in report and report.index("trainer.train()") < report.index("slow()")
    assert "loads the saved result): 99_demo cell 3 (40.0 s)" in report
    with pytest.raises(ValueError, match="mode must be one of"):
        timings.record("99_demo", "fast", 1.0, rows, store)


def idle_machine(monkeypatch, threads, load):
    """Record times as if taken with ``threads`` PyTorch threads on a 2-core machine at 5-minute load ``load``."""
    monkeypatch.setenv("OMP_NUM_THREADS", str(threads))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))


def test_the_report_flags_notebooks_over_budget_with_and_without_bf16(tmp_path, monkeypatch):
    idle_machine(monkeypatch, threads=2, load=2.1)
    store = tmp_path / "timings.json"
    row = [{"id": "a", "cell": 0, "seconds": 1.0, "training": False, "cached": False, "code": "x()"}]
    for stem, full, fp32, smoke in (("98_fast", 120.0, 150.0, 12.0), ("99_slow", 280.0, 341.5, 31.0)):
        timings.record(stem, "full", full, row, store)
        timings.record(stem, "fp32", fp32, row, store)
        timings.record(stem, "smoke", smoke, row, store)
    report = timings.format_report(timings.load(store))
    assert "| 98_fast | 120.0 s | 150.0 s | 12.0 s | 2 threads, load 2.1 | no |" in report
    assert "| 99_slow | 280.0 s | 341.5 s | 31.0 s | 2 threads, load 2.1 | fp32 > 300 s, smoke > 30 s |" in report
    assert f"Measured on: {timings.machine()}" in report and " cores, " in timings.machine()
    # a notebook measured in one mode only: the others show a dash, and nothing is flagged
    timings.record("97_one", "smoke", 3.0, row, store)
    assert "| 97_one | – | – | 3.0 s | – | no |" in timings.format_report(timings.load(store))


@pytest.mark.parametrize(
    ("threads", "load", "flag"),
    [
        (2, 2.3, "full > 300 s"),
        (1, 1.9, "full > 300 s (loaded run: an upper bound)"),
        (2, 3.4, "full > 300 s (loaded run: an upper bound)"),
    ],
)
def test_a_time_over_budget_from_a_loaded_run_is_an_upper_bound(tmp_path, monkeypatch, threads, load, flag):
    """The budget holds for an idle machine with every core: one thread, or other work running, gives an upper bound."""
    idle_machine(monkeypatch, threads=threads, load=load)
    store = tmp_path / "timings.json"
    row = [{"id": "a", "cell": 0, "seconds": 1.0, "training": False, "cached": False, "code": "x()"}]
    timings.record("96_big", "full", 320.0, row, store)
    stored = timings.load(store)["notebooks"]["96_big"]["full"]["conditions"]
    assert stored == {"threads": threads, "cores": 2, "load_average": [load, load, load]}
    line = next(line for line in timings.format_report(timings.load(store)).splitlines() if "96_big" in line)
    assert line.endswith(f"| {flag} |")
    # a time stored before conditions were recorded says so
    data = timings.load(store)
    data["notebooks"]["96_big"]["full"].pop("conditions")
    assert "full > 300 s (conditions not recorded)" in timings.format_report(data)


def test_without_an_fp32_run_a_notebook_without_autocast_reports_its_full_time(tmp_path):
    notebooks_folder = tmp_path / "nbs"
    notebooks_folder.mkdir()
    for stem, code in (
        ("01_plain", "model(x)"),
        ("02_fast", "with torch.autocast('cpu'):\n    model(x)"),
        ("03_helper", "if bf16_enabled():\n    pass"),
    ):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(code)]
        nbformat.write(nb, notebooks_folder / f"{stem}.ipynb")
    plain = timings.notebooks_without_autocast(notebooks_folder)
    assert plain == {"01_plain"}
    store = tmp_path / "timings.json"
    row = [{"id": "a", "cell": 0, "seconds": 1.0, "training": False, "cached": False, "code": "x()"}]
    timings.record("01_plain", "full", 100.0, row, store)
    timings.record("02_fast", "full", 100.0, row, store)
    report = timings.format_report(timings.load(store), no_autocast=plain)
    assert "| 01_plain | 100.0 s | = full (no bf16 autocast) |" in report
    assert "| 02_fast | 100.0 s | – |" in report


def test_unknown_notebook_number_lists_the_available_ones():
    with pytest.raises(ValueError, match="available: 00_welcome.ipynb"):
        notebooks.notebook_paths(["99"])


@pytest.mark.parametrize("path", notebooks.notebook_paths(), ids=lambda p: p.name)
def test_committed_notebooks_carry_exercises_solutions_and_slide_metadata(path):
    nb = nbformat.read(path, as_version=4)
    frame = read_frame(nb)
    assert 2 <= frame.exercises <= 4, f"{path.name}: {frame.exercises} numbered exercises (want 2-4)"
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert any(c.cell_type == "code" for c in solutions) or len(solutions) > 1, (
        f"{path.name}: no solution cells: add a '### Solutions' section and run `make tag NB={path.name[:2]}`"
    )
    assert all(c.metadata.get("jupyter", {}).get("source_hidden") for c in solutions if c.cell_type == "code")
    for cell in nb.cells:
        assert "slideshow" in cell.metadata, f"{path.name}: untagged cell {cell.id}: run `make tag NB={path.name[:2]}`"
    assert json.dumps(tag_cells(nbformat.read(path, as_version=4)), sort_keys=True) == json.dumps(nb, sort_keys=True), (
        f"{path.name}: cell metadata is stale: run `make tag NB={path.name[:2]}`"
    )


def _tqdm_widget_notebook(value, total):
    """A notebook whose one output is a tqdm bar, with the widget state nbclient stores (only the fields read)."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("for batch in tqdm(batches): ...")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/plain": f"embedding:   0%|          | 0/{total} [00:00<?, ?it/s]",
                notebooks.WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": "box"},
            },
        )
    ]
    nb.cells = [cell]
    state = {
        "box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]}},
        "l": {"model_name": "HTMLModel", "state": {"value": f"embedding:\u2007{100 * value // total}%"}},
        "p": {"model_name": "FloatProgressModel", "state": {"value": float(value), "max": float(total)}},
        "r": {"model_name": "HTMLModel", "state": {"value": f"\u2007{value}/{total}\u2007[02:02&lt;00:00]"}},
    }
    nb.metadata["widgets"] = {notebooks.WIDGET_STATE: {"state": state}}
    return nb


def test_finished_progress_bars_keep_their_final_text():
    nb = _tqdm_widget_notebook(314, 314)
    assert notebooks.settle_progress_bars(nb) == 1
    assert nb.cells[0].outputs[0].data == {"text/plain": "embedding: 100%|██████████| 314/314 [02:02<00:00]"}
    half = _tqdm_widget_notebook(157, 314)
    notebooks.settle_progress_bars(half)
    assert half.cells[0].outputs[0].data["text/plain"].startswith("embedding: 50%|█████     | 157/314")


def test_other_widgets_and_missing_state_are_left_alone():
    nb = _tqdm_widget_notebook(10, 10)
    nb.metadata["widgets"][notebooks.WIDGET_STATE]["state"]["box"]["state"]["children"].pop()
    bare = _tqdm_widget_notebook(10, 10)
    bare.metadata.pop("widgets")
    assert notebooks.settle_progress_bars(nb) == 0 and notebooks.settle_progress_bars(bare) == 0
    assert (
        notebooks.WIDGET_VIEW in nb.cells[0].outputs[0].data and notebooks.WIDGET_VIEW in bare.cells[0].outputs[0].data
    )


def test_adopt_copies_an_unchanged_executed_notebook_and_refuses_a_changed_one(tmp_path, monkeypatch):
    nb_dir, build = tmp_path / "notebooks", tmp_path / "build"
    nb_dir.mkdir(), build.mkdir()
    committed = _notebook(("md", FRAME), ("code", "x = 1"))
    executed = _notebook(
        ("md", FRAME), ("code", "x = 1", [nbformat.v4.new_output("stream", name="stdout", text="1\n")])
    )
    executed.cells[1].metadata["execution"] = {"iopub.execute_input": "2026-11-29T08:00:00Z"}
    executed.cells[1].execution_count = 1
    paths = [nb_dir / "98_same.ipynb", nb_dir / "99_edited.ipynb"]
    for path in paths:
        nbformat.write(committed, path)
        nbformat.write(executed, build / path.name)
    edited = _notebook(("md", FRAME), ("code", "x = 2"))
    nbformat.write(edited, paths[1])
    monkeypatch.setattr(notebooks, "BUILD", build)
    monkeypatch.setattr(notebooks, "notebook_paths", lambda selected=None: paths)
    assert workflows.adopt() == 1
    adopted = nbformat.read(paths[0], as_version=4)
    assert adopted.cells[1].outputs[0].text == "1\n" and "execution" not in adopted.cells[1].metadata
    assert adopted.cells[0].metadata["slideshow"]["slide_type"] == "slide"
    assert nbformat.read(paths[1], as_version=4).cells[1].source == "x = 2"  # left as it was
    executed.cells[1].execution_count = None  # a run that stopped before this cell
    nbformat.write(executed, build / paths[0].name)
    assert workflows.adopt() == 2


def test_running_some_notebooks_keeps_the_book_of_the_others(tmp_path, monkeypatch):
    """`make run NB=99` after a full run: the index still lists every notebook, navigation spans all of them."""
    nb_dir, build = tmp_path / "notebooks", tmp_path / "build"
    nb_dir.mkdir(), build.mkdir()
    paths = [nb_dir / "98_first.ipynb", nb_dir / "99_second.ipynb"]
    for path in paths:
        nbformat.write(
            _notebook(
                ("md", FRAME),
                ("code", "print(6 * 7)"),
                ("code", "from tqdm.auto import tqdm\n\nfor _ in tqdm(range(3), desc='steps'):\n    pass"),
            ),
            path,
        )
    monkeypatch.setattr(notebooks, "BUILD", build)
    monkeypatch.setattr(
        notebooks, "notebook_paths", lambda selected=None: [p for p in paths if not selected or p.name[:2] in selected]
    )
    monkeypatch.setattr(vendor, "install", lambda log=print: build / "vendor")
    assert workflows.run() == 0
    first = json.loads((build / "runtimes.json").read_text())
    assert workflows.run(["99"]) == 0
    again = json.loads((build / "runtimes.json").read_text())
    assert set(again) == {"98_first", "99_second"} and again["98_first"] == first["98_first"]
    index = (build / "index.html").read_text()
    assert "98_first.html" in index and "99_second.html" in index
    page = (build / "99_second.html").read_text()
    assert "98_first.html" in page  # "previous" still points at the notebook that was not re-run
    assert nbformat.read(build / "99_second.ipynb", as_version=4).cells[1].outputs[0].text == "42\n"
    assert "steps: 100%" in page and "unpkg.com" not in page  # the finished bar as text, no widget manager from a CDN


def test_two_kernels_at_a_time_give_the_same_book_with_one_thread_each(tmp_path, monkeypatch):
    """`make run JOBS=2`: both notebooks executed, each kernel with one thread, pages and runtimes written."""
    nb_dir, build = tmp_path / "notebooks", tmp_path / "build"
    nb_dir.mkdir(), build.mkdir()
    paths = [nb_dir / "98_first.ipynb", nb_dir / "99_second.ipynb"]
    for path in paths:
        nbformat.write(_notebook(("md", FRAME), ("code", "import os\nprint(os.environ['OMP_NUM_THREADS'])")), path)
    monkeypatch.setattr(notebooks, "BUILD", build)
    monkeypatch.setattr(notebooks, "notebook_paths", lambda selected=None: paths)
    monkeypatch.setattr(vendor, "install", lambda log=print: build / "vendor")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # what the worker must override for its kernel
    assert workflows.run(jobs=2) == 0
    assert set(json.loads((build / "runtimes.json").read_text())) == {"98_first", "99_second"}
    for path in paths:
        assert nbformat.read(build / path.name, as_version=4).cells[1].outputs[0].text == "1\n"
        assert (build / f"{path.stem}.html").is_file()
    with pytest.raises(ValueError, match="JOBS=1"):
        workflows.run(record=True, jobs=2)
    with pytest.raises(ValueError, match="1 or more"):
        workflows.run(jobs=0)


def test_cleared_progress_displays_are_dropped_and_others_kept():
    nb = _notebook(
        (
            "code",
            "trainer.predict(test)",
            [
                nbformat.v4.new_output(
                    "display_data", data={"text/html": "", "text/plain": "<IPython.core.display.HTML object>"}
                ),
                nbformat.v4.new_output(
                    "display_data", data={"text/html": "<table>loss</table>", "text/plain": "table"}
                ),
                nbformat.v4.new_output("stream", name="stdout", text="done\n"),
            ],
        )
    )
    assert notebooks.drop_empty_displays(nb) == 1
    assert [o.output_type for o in nb.cells[0].outputs] == ["display_data", "stream"]
    assert notebooks.drop_empty_displays(nb) == 0


def test_pages_render_without_widget_state():
    """Widget state in the metadata makes nbconvert load the widget manager from a CDN (found by the browser test):
    make run renders each page from the notebook as it is committed, stripped, with its bars as text."""
    nb = _tqdm_widget_notebook(314, 314)
    notebooks.settle_progress_bars(nb)
    with_state, _ = pages.page_exporter().from_notebook_node(nb, resources={"nav": {}})
    assert "unpkg.com" in with_state  # what a page would load if the state stayed
    notebooks.strip_volatile(nb)
    assert "widgets" not in nb.metadata
    body, _ = pages.page_exporter().from_notebook_node(nb, resources={"nav": {}})
    assert "unpkg.com" not in body and "314/314" in body


# ---- make test's second pass: the notebooks present mode or a cache can change


@pytest.mark.parametrize(
    "cells, changed",
    [
        ([("code", 'output = train_or_load(trainer, "10/sst2")')], True),
        ([("code", 'log = run_or_load("21/grpo", loop, policy, settings={})')], True),
        ([("code", "# cached: embeddings of the corpus\nembeddings = embed(corpus)")], True),
        ([("md", "In present mode `train_or_load(trainer, name)` loads the run."), ("code", "print(1)")], False),
        ([("code", "from utils.present import train_or_load  # imported, never called")], False),
        ([("code", "x = 1  # cached: not a cached cell, the marker must open the cell")], False),
    ],
)
def test_changed_by_present_mode(cells, changed):
    assert changed_by_present_mode(_notebook(*cells)) is changed


def test_present_list_names_every_notebook_that_saves_a_run(capsys):
    """Every committed notebook that calls utils.present's loaders is in the second pass; 00 (no training) is not."""
    workflows.present_list()
    listed = set(capsys.readouterr().out.split())
    for path in notebooks.notebook_paths():
        code = "".join(
            "".join(cell["source"]) for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"
        )
        calls = "train_or_load(" in code.replace("import train_or_load", "") or "run_or_load(" in code
        assert (f"notebooks/{path.name}" in listed) == (calls or "# cached:" in code), path.name
    assert "notebooks/00_welcome.ipynb" not in listed and "notebooks/21_reasoning_and_rewards.ipynb" in listed
