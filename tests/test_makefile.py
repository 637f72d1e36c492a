"""The Makefile as a user meets it: `make help` names every target, `make lock` works in a fresh clone."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INTERNAL = {"help", "check-python"}

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args, cwd=ROOT):
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, capture_output=True, text=True, check=True)


def phony_targets():
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    (line,) = re.findall(r"^\.PHONY:(.*)$", text, re.MULTILINE)
    return set(line.split())


def test_make_help_names_every_target_a_user_can_call():
    shown = make("-s", "help").stdout
    missing = sorted(t for t in phony_targets() - INTERNAL if not re.search(rf"\bmake {re.escape(t)}\b", shown))
    assert not missing, f"`make help` does not mention: {missing}"
    assert {"venv", "dev", "lock"} <= phony_targets()


def test_make_lock_makes_its_own_venv_in_a_fresh_clone(tmp_path):
    """`make lock` used to run .venv/bin/pip before any .venv existed; now it makes the venv it needs, and no more."""
    commands = make("-n", "lock", f"VENV={tmp_path / 'fresh'}").stdout.splitlines()
    creates = next(i for i, line in enumerate(commands) if re.search(r"-m venv .*fresh", line))
    installs_uv = next(i for i, line in enumerate(commands) if '"uv==' in line)
    compiles = next(i for i, line in enumerate(commands) if "uv pip compile requirements.txt" in line)
    assert creates < installs_uv < compiles
    assert not any("--require-hashes -r requirements.lock" in line for line in commands), (
        "lock must not install the lock"
    )


def fake_python(path, version, runs_scripts=True):
    """A stand-in interpreter: answers the version query; a Python 2 one fails on the project's scripts."""
    script = (
        "" if runs_scripts else "echo '  File \"utils/environment.py\"' >&2; echo 'SyntaxError: invalid syntax' >&2; "
    )
    path.write_text(f'#!/bin/sh\nif [ "$1" = "-c" ]; then echo {version}; exit 0; fi\n{script}exit 1\n')
    path.chmod(0o755)
    return path


def test_an_unsupported_python_base_is_refused_with_the_fix_and_no_traceback(tmp_path):
    python2 = fake_python(tmp_path / "python2.7", "2.7", runs_scripts=False)
    result = subprocess.run(
        ["make", "--no-print-directory", "check-python", f"VENV={tmp_path / 'none'}", f"PYTHON_BASE={python2}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert f"error: {python2} is Python 2.7; the course supports 3.11 3.12 3.13." in result.stderr
    assert "fix: make setup PYTHON_BASE=python3.11" in result.stderr
    assert "SyntaxError" not in result.stderr + result.stdout


def test_a_python_base_an_existing_venv_ignores_is_named(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake_python(venv / "bin" / "python", "3.11")
    other = fake_python(tmp_path / "python3.12", "3.12")
    result = make("check-python", f"VENV={venv}", f"PYTHON_BASE={other}")
    assert f"note: {venv} exists with Python 3.11, so PYTHON_BASE={other} (Python 3.12) is not used;" in result.stderr
    assert f"to switch: rm -rf {venv}" in result.stderr
    # the same version, or no PYTHON_BASE given: nothing to say
    assert (
        "note:" not in make("check-python", f"VENV={venv}", f"PYTHON_BASE={fake_python(tmp_path / 'p', '3.11')}").stderr
    )
    assert "note:" not in make("check-python", f"VENV={venv}").stderr
