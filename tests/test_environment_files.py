"""requirements.txt and environment.yml must describe the same environment."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(text: str) -> dict[str, str]:
    return {m.group(1).lower().replace("_", "-"): m.group(2)
            for m in re.finditer(r"^\s*(?:-\s*)?([A-Za-z0-9_.-]+)==([^\s#]+)", text, re.MULTILINE)}


def test_conda_environment_has_the_same_pins_as_requirements():
    requirements = pins((ROOT / "requirements.txt").read_text())
    conda = pins((ROOT / "environment.yml").read_text())
    assert requirements == conda
    assert requirements["torch"] == "2.13.0"
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
