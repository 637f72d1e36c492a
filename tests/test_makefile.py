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
