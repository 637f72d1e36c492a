"""``python -m utils.course status``: what a learner reads to see what is installed and how to fix what is not."""

import json

import pytest

from utils.course import registry, status
from utils.course.__main__ import main as course_main
from utils.course.files import write_marker


@pytest.fixture
def empty_home(monkeypatch, tmp_path):
    home = tmp_path / "assets"
    home.mkdir()
    monkeypatch.setenv("LLM_RETREAT_HOME", str(home))
    monkeypatch.setenv("LLM_RETREAT_SMOKE", "1")
    return home


def test_an_empty_asset_home_exits_non_zero_with_a_fix_for_each_missing_asset(empty_home, capsys):
    assert course_main(["status"]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    # the asset home's own path is as long as the machine makes it (a test worker's tmp path is long): the rest of the
    # report must fit in 100 columns, with the path shown as "<home>"
    assert max(len(line.replace(str(empty_home), "<home>")) for line in lines) <= 100, max(lines, key=len)
    assert lines[0].endswith("(smoke mode)")
    missing = [i for i, line in enumerate(lines) if "MISSING" in line]
    assert len(missing) == sum(1 for e in status.entries() if e.needed)
    for index in missing:
        name = lines[index].split()[0]
        expected = (
            "make standins LLM_RETREAT_SMOKE=1"
            if name.startswith("standins/")
            else "make course-models LLM_RETREAT_SMOKE=1"
            if name.startswith(("course_models/", "course_runs/"))
            else "make kit"
        )
        assert lines[index + 1].strip().startswith(f"fix: {expected}"), (name, lines[index + 1])
    assert (
        "needed in smoke mode and missing: run make course-models LLM_RETREAT_SMOKE=1 and make kit and "
        "make standins LLM_RETREAT_SMOKE=1" in " ".join(out.split())
    )
    assert {"course_models/smoke/smollm2-grpo-arith", "course_runs/smoke/pretraining-scaling"} <= {
        lines[index].split()[0] for index in missing
    }
    # the other mode's stand-ins, course models and runs, saved runs and scratch files are listed but not required
    for name in ("standins/full/qa", "course_models/full/smollm2-sft-extract", "course_runs/full/pretraining-scaling",
                 "runs/", "scratch/"):  # fmt: skip
        (line,) = [line for line in lines if line.split()[:1] == [name]]
        assert line.split()[1] == "no", line


def test_runs_and_scratch_are_listed_with_their_sizes_in_the_totals(empty_home, capsys):
    (empty_home / "runs" / "13").mkdir(parents=True)
    (empty_home / "runs" / "13" / "weights.safetensors").write_bytes(b"x" * 2_500_000)
    (empty_home / "scratch" / "08_big_data").mkdir(parents=True)
    (empty_home / "scratch" / "08_big_data" / "data.arrow").write_bytes(b"x" * 1_200_000)
    course_main(["status"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:4] for line in lines if line.startswith(("runs/", "scratch/"))] == [
        ["runs/13", "yes", "2.5", "MB"],
        ["scratch/08_big_data", "yes", "1.2", "MB"],
    ]
    (total,) = [line for line in lines if line.startswith("total:")]
    assert total.startswith("total: 3.7 MB in the asset home (saved runs 2.5 MB, scratch 1.2 MB)"), total


def test_everything_present_exits_zero(monkeypatch, empty_home, capsys):
    here = [status.Entry("models/x", True, 1000, "Apache-2.0", "make kit", source="somewhere")]
    here.append(status.Entry("standins/full/qa", False, 0, "Apache-2.0", "make standins (only for full mode)", False))
    monkeypatch.setattr(status, "entries", lambda: here)
    assert course_main(["status"]) == 0
    out = capsys.readouterr().out
    assert "everything smoke mode needs is here" in out and "MISSING" not in out
    assert "models/x: somewhere" in out


def test_list_shows_both_modes_with_headline_metrics_not_raw_json(empty_home, capsys):
    folder = registry.model_dir("emotion", smoke=False)
    folder.mkdir(parents=True)
    metrics = {
        "validation": {"macro_f1": 0.80412, "accuracy": 0.81},
        "test": {"macro_f1": 0.82671, "accuracy": 0.828},
        "split_sizes": {"train": 1584, "validation": 198, "test": 198},
    }
    (folder / registry.INFO_FILE).write_text(json.dumps({"metrics": metrics, "train_seconds": 70.4}))
    write_marker(folder, "test")
    assert course_main(["list"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    rows = {
        tuple(line.split()[:2]): line.split() for line in out.splitlines() if line.split()[1:2] in (["full"], ["smoke"])
    }
    assert len(rows) == 2 * len(registry.SPECS)
    assert rows[("emotion", "full")] == ["emotion", "full", "yes", "1584/198/198", "macro_f1", "0.804", "0.827", "70"]
    assert rows[("emotion", "smoke")][2:4] == ["no", "-"]
    assert "{" not in out and "emotion: bhadresh-savani/distilbert-base-uncased-emotion" in out
