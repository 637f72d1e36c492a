"""A scripted mutation probe over the lesson helpers and the kit: does some unit test fail when the code is wrong?

``python -m tests.mutation_probe [--root DIR]`` applies each mutation below, one at a time, to a copy of the tree
at DIR (default: this repository), runs the unit tests that cover that file, and reports which mutations survive
(every test still passed). A maintainer's report, not a test: it takes a few minutes.

Each mutation is a real mistake someone could make; the paths list where the code lives now and, for the report
"before", where it lived before utils/ was split (issue 15).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    paths: tuple[str, ...]  # the file, now and (if it moved) before
    old: str
    new: str


MUTATIONS = (
    Mutation(
        "NER labels on every piece instead of the first",
        ("utils/task_features.py", "utils/training.py"),
        "-100 if word_id is None or word_id == previous else",
        "-100 if word_id is None else",
    ),
    Mutation(
        "precision@k short-list guard off by one",
        ("utils/retrieval.py",),
        "if len(result_labels) < k:",
        "if len(result_labels) < k - 1:",
    ),
    Mutation(
        "near-duplicate threshold default 0.95",
        ("tests/text_checks.py", "utils/text_checks.py"),
        "threshold: float = 0.5",
        "threshold: float = 0.95",
    ),
    Mutation("accuracy counts mismatches", ("utils/metrics.py",), "int(p == r)", "int(p != r)"),
    Mutation(
        "recall from the wrong counts",
        ("utils/metrics.py",),
        "recall = tp / (tp + fn) if tp + fn else 0.0",
        "recall = tp / (tp + fp) if tp + fp else 0.0",
    ),
    Mutation(
        "answers compared without lower-casing",
        ("utils/metrics.py",),
        'text = "".join(ch for ch in text.lower() if',
        'text = "".join(ch for ch in text if',
    ),
    Mutation(
        "recall@k accepts a ground truth with -1",
        ("utils/retrieval.py",),
        'raise ValueError(f"the exact top {k} contains -1',
        'print(f"the exact top {k} contains -1',
    ),
    Mutation(
        "WEAT p-value counts only strictly larger splits",
        ("utils/bias.py",),
        "return float(np.mean(statistics >= observed - tolerance)), n_splits, True",
        "return float(np.mean(statistics > observed + tolerance)), n_splits, True",
    ),
    Mutation(
        "kit accepts an archive with another hash",
        ("utils/course/archives.py", "utils/kit.py"),
        "if actual != expected_sha256:",
        "if actual == expected_sha256 and False:",
    ),
    Mutation(
        "a lock line without a hash is read",
        ("utils/course/archives.py", "utils/kit.py"),
        "if not sep or not hash_part.strip():",
        "if not sep:",
    ),
    Mutation(
        "a marked folder with a deleted file counts as complete",
        ("utils/course/files.py",),
        "if not (folder / name).is_file() or (folder / name).stat().st_size != size",
        "if False",
    ),
    Mutation(
        "smoke and full sizes swapped",
        ("utils/modes.py",),
        "return smoke if smoke_mode() else full",
        "return full if smoke_mode() else smoke",
    ),
)

# the unit tests that cover each file (the fast tier: no kit, no notebooks)
TESTS = {
    "utils/task_features.py": ["tests/test_task_features.py"],
    "utils/training.py": ["tests/test_task_metrics.py", "tests/test_standins.py"],
    "utils/retrieval.py": ["tests/test_retrieval.py"],
    "tests/text_checks.py": ["tests/test_text_checks.py", "tests/test_project_data.py"],
    "utils/text_checks.py": ["tests/test_project_data.py"],
    "utils/metrics.py": ["tests/test_metrics.py", "tests/test_task_metrics.py", "tests/test_evaluate_modules.py"],
    "utils/bias.py": ["tests/test_bias.py"],
    "utils/course/archives.py": ["tests/test_kit.py"],
    "utils/kit.py": ["tests/test_kit.py"],
    "utils/course/files.py": ["tests/test_kit.py", "tests/test_standins.py"],
    "utils/modes.py": ["tests/test_modes.py"],
}


def _pytest(tree: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree), "LLM_RETREAT_SMOKE": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)


def passing_tests(tree: Path, files: list[str]) -> list[str]:
    """The tests of ``files`` that pass on the unmutated tree (only those can tell a mutant apart)."""
    result = _pytest(tree, files)
    return [line.split(" ", 1)[1].split(" - ")[0] for line in result.stdout.splitlines() if line.startswith("PASSED ")]


def run_probe(root: Path) -> list[tuple[str, str]]:
    results = []
    baseline: dict[str, list[str]] = {}
    for mutation in MUTATIONS:
        path = next((p for p in mutation.paths if (root / p).is_file()), None)
        if path is None or mutation.old not in (root / path).read_text(encoding="utf-8"):
            results.append((mutation.name, "not applicable"))
            print(f"{results[-1][1]:>14}  {mutation.name}", flush=True)
            continue
        files = [t for t in TESTS.get(path, []) if (root / t).is_file()]
        if path not in baseline:
            baseline[path] = passing_tests(root, files)
        with tempfile.TemporaryDirectory() as scratch:
            tree = Path(scratch) / "tree"
            shutil.copytree(root, tree, ignore=shutil.ignore_patterns(".git", ".venv*", "build", "__pycache__"))
            target = tree / path
            target.write_text(target.read_text(encoding="utf-8").replace(mutation.old, mutation.new), encoding="utf-8")
            outcome = _pytest(tree, ["-x", *baseline[path]]) if baseline[path] else None
            status = (
                "no passing test"
                if outcome is None
                else "killed"
                if outcome.returncode == 1
                else "SURVIVED"
                if outcome.returncode == 0
                else f"error {outcome.returncode}"
            )
            results.append((mutation.name, status))
        print(f"{status:>14}  {mutation.name}  ({len(baseline[path])} passing tests of {', '.join(files)})", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    results = run_probe(args.root.resolve())
    applied = [r for r in results if r[1] in {"killed", "SURVIVED", "no passing test"}]
    survived = [r for r in applied if r[1] in {"SURVIVED", "no passing test"}]
    print(
        f"{len(survived)} of {len(applied)} applicable mutations survived ({len(results) - len(applied)} not applicable)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
