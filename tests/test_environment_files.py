"""requirements.txt, environment.yml and the locks describe one environment; CI runs the README's command, cold."""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^\s*(?:-\s*)?([A-Za-z0-9_.-]+)==([^\s#;\\]+)", re.MULTILINE)


def pins(text: str) -> dict[str, str]:
    return {m.group(1).lower().replace("_", "-"): m.group(2) for m in PIN.finditer(text)}


def lock_entries(text: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) for each package of a uv/pip-compile lock."""
    entries = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = PIN.match(block)
        if match:
            entries[match.group(1).lower().replace("_", "-")] = (match.group(2), block.count("--hash=sha256:"))
    return entries


def test_conda_environment_has_the_same_pins_as_requirements():
    requirements = pins((ROOT / "requirements.txt").read_text())
    conda = pins((ROOT / "environment.yml").read_text())
    assert requirements == conda
    assert requirements["torch"] == "2.13.0"
    assert "python>=3.11,<3.14" in (ROOT / "environment.yml").read_text()


def test_the_lock_pins_every_direct_requirement_at_its_version_with_hashes():
    requirements = pins((ROOT / "requirements.txt").read_text())
    lock = lock_entries((ROOT / "requirements.lock").read_text())
    for name, version in requirements.items():
        if name == "torch":  # installed on its own from the CPU-only index (Makefile TORCH_INDEX)
            assert name not in lock
            continue
        assert name in lock, f"{name} is in requirements.txt but not in requirements.lock: run `make lock`"
        assert lock[name][0] == version, f"{name}: requirements.txt pins {version}, the lock {lock[name][0]}: make lock"
    assert len(lock) > len(requirements)  # the transitive packages are there too
    assert all(hashes >= 1 for _, hashes in lock.values()), "every locked package needs a sha256"
    assert not [n for n in lock if n.startswith(("nvidia-", "cuda-")) or n in {"triton", "torch"}]


def test_the_dev_lock_is_separate_and_hashed():
    dev = pins((ROOT / "requirements-dev.txt").read_text())
    lock = lock_entries((ROOT / "requirements-dev.lock").read_text())
    assert {"ruff"} <= set(dev) and not set(dev) & set(pins((ROOT / "requirements.txt").read_text()))
    for name, version in dev.items():
        assert lock[name][0] == version and lock[name][1] >= 1


def test_pyproject_allows_the_pythons_the_makefile_supports():
    makefile = (ROOT / "Makefile").read_text()
    supported = re.search(r"^SUPPORTED_PYTHONS := (.+)$", makefile, re.MULTILINE).group(1).split()
    assert supported == ["3.11", "3.12", "3.13"]
    assert 'requires-python = ">=3.11,<3.14"' in (ROOT / "pyproject.toml").read_text()


def test_ci_runs_the_readme_test_command_on_cold_caches():
    """.ci/run executes `make test` (not in a comment or an echo) after pointing the asset home and the Hugging Face
    caches at a folder made for the run; the README tells a newcomer the same command."""
    commands = []
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            commands.append(shlex.split(line))
    assert ["make", "test"] in commands, ".ci/run must run `make test`"
    run_index = commands.index(["make", "test"])
    before = " ".join(" ".join(c) for c in commands[:run_index])
    assert "mktemp -d" in before
    for variable in ("LLM_RETREAT_HOME=", "HF_HOME="):
        assert variable in before, f".ci/run must set {variable} to the fresh folder before make test"
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"^make test\b", quick_start, re.MULTILINE), "the README's quick start must show `make test`"


def test_make_test_runs_the_notebooks_twice_so_checked_outputs_cannot_depend_on_the_cache():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest: ", 1)[1].split("\n\n", 1)[0]
    # the recipe's shell lines end in "; \\"; lines that only echo a command do not run it
    lines = [line.strip().removesuffix("\\").strip().removesuffix(";") for line in recipe.splitlines()]
    passes = [line for line in lines if "--nbval-lax " in line and not line.startswith("echo")]
    assert len(passes) == 2, "make test must run nbval on the notebooks twice (cold caches, then the same caches warm)"
    assert recipe.index("setup LLM_RETREAT_SMOKE=1") < recipe.index(passes[0])
    assert passes[0].rstrip().endswith("--nbval-lax notebooks"), "the first pass runs every notebook"
    # the second pass is also the test of present mode: every training cell loads the run the first pass saved; it
    # runs the notebooks present mode or a cache can change (python -m utils.book present-list, tests/test_book.py)
    assert "LLM_RETREAT_PRESENT=1" not in passes[0] and "LLM_RETREAT_PRESENT=1" in passes[1]
    assert passes[1].rstrip().endswith("--nbval-lax $(PRESENT_NOTEBOOKS)")
    assert "PRESENT_NOTEBOOKS = $(shell $(PYTHON) -m utils.book present-list)" in makefile


def test_make_test_and_ci_keep_their_temporary_files_in_a_folder_they_remove():
    """Kernels stopped with SIGKILL leave their scratch folders behind: runs that wrote into /tmp once filled a disk."""
    recipe = (ROOT / "Makefile").read_text().split("\ntest: ", 1)[1].split("\n\n", 1)[0]
    nbval_line = recipe.index("--nbval-lax notebooks")
    assert 'export TMPDIR="$$(mktemp -d' in recipe[:nbval_line]
    assert "trap 'rm -rf \"$$TMPDIR\"' EXIT" in recipe[:nbval_line]
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'export TMPDIR="$cold/tmp"' in ci and "trap 'rm -rf \"$cold\"' EXIT" in ci
    assert ci.index("export TMPDIR") < ci.index("make test")
