"""The two rooms of utils/ and the one-way chain inside the course machinery, enforced on the source.

Lesson helpers (what notebooks import) never import the machinery; the book tooling never imports the asset layer;
inside ``utils.course`` a module imports only modules below it; every ``utils`` import sits at the top of its
module; nobody imports another module's ``_private`` names. A new cycle or a lesson importing machinery fails here.
"""

import ast
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parents[1] / "utils"

BASE = {"utils.environment", "utils.modes"}
LESSONS = {
    "utils.compile_benchmark",
    "utils.metrics",
    "utils.baselines",
    "utils.bias",
    "utils.plots",
    "utils.learning_curves",
    "utils.retrieval",
    "utils.tokenizer_stats",
    "utils.memory",
    "utils.corpus",
    "utils.report",
    "utils.task_features",
    "utils.present",
    "utils.sandbox",
    "utils.pass_at_k",
    "utils.multiple_choice",
    "utils.contamination",
    "utils.decoder",
    "utils.stats",
    "utils.report_card",
    "utils.arithmetic",
    "utils.extraction",
    "utils.pretraining",
    "utils.train_memory",
    "utils.scratch",
    "utils.evaluate_modules",
    "utils.evaluate_modules.averaging",
    "utils.evaluate_modules.label_metric",
}
# The course chain, bottom to top: a module may import only modules of a lower rank.
COURSE_RANK = {
    "utils.course": 0,
    "utils.course.files": 0,
    "utils.course.archives": 1,
    "utils.course.schemas": 1,
    "utils.course.prepared": 2,
    "utils.course.kit": 3,
    "utils.course.registry": 3,
    "utils.course.catalog": 4,
    "utils.course.training": 5,
    "utils.course.build": 6,
    "utils.course.course_models": 6,
    "utils.course.course_runs": 7,  # reuses the course models' GRPO step (reward-hacking)
    "utils.course.resolve": 8,
    "utils.course.status": 8,
    "utils.course.__main__": 9,
    "utils.course.report_card": 9,
}
BOOK_RANK = {
    "utils.book": 0,
    "utils.book.meta": 0,
    "utils.book.vendor": 0,
    "utils.book.timings": 1,
    "utils.book.notebooks": 1,
    "utils.book.pages": 2,
    "utils.book.workflows": 3,
    "utils.book.__main__": 4,
}
FACADE = "utils"


def module_name(path: Path) -> str:
    parts = path.relative_to(UTILS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(UTILS.rglob("*.py")):
        if path.parent.parent.name == "evaluate_modules":  # metric scripts evaluate.load runs as files
            continue
        found[module_name(path)] = path
    return found


def utils_imports(path: Path) -> list[tuple[str, list[str], bool]]:
    """(module imported, names imported, at top level?) for every import of a utils module in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "utils":
            names = [alias.name for alias in node.names]
            # `from utils.course import build` imports the module utils.course.build
            targets = [f"{node.module}.{n}" if f"{node.module}.{n}" in modules() else node.module for n in names]
            for target in dict.fromkeys(targets):
                found.append((target, names, id(node) in top))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "utils":
                    found.append((alias.name, [], id(node) in top))
    return found


def graph() -> dict[str, set[str]]:
    return {name: {target for target, _, _ in utils_imports(path)} for name, path in modules().items()}


def allowed(importer: str, imported: str) -> bool:
    if imported in BASE and importer != imported:
        return importer not in BASE or (importer, imported) == ("utils.modes", "utils.environment")
    if importer in LESSONS:
        return imported in LESSONS
    if importer in COURSE_RANK:
        if imported in LESSONS:
            return True  # the recipes reuse what the lessons teach (metrics, task features)
        return imported in COURSE_RANK and COURSE_RANK[imported] < COURSE_RANK[importer]
    if importer in BOOK_RANK:
        return imported in BOOK_RANK and BOOK_RANK[imported] < BOOK_RANK[importer]
    if importer == FACADE:
        return imported in BASE or imported in {"utils.course.resolve", "utils.course.catalog"}
    return False


def test_every_module_is_placed_in_a_layer():
    unplaced = set(modules()) - BASE - LESSONS - set(COURSE_RANK) - set(BOOK_RANK) - {FACADE}
    assert not unplaced, f"place these modules in a layer (tests/test_layers.py): {sorted(unplaced)}"


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_follow_the_layers(name):
    wrong = [imported for imported, _, _ in utils_imports(modules()[name]) if not allowed(name, imported)]
    assert not wrong, f"{name} must not import {wrong} (see the layers in tests/test_layers.py)"


@pytest.mark.parametrize("name", sorted(modules()))
def test_utils_imports_sit_at_the_top_and_take_no_private_names(name):
    for imported, names, at_top in utils_imports(modules()[name]):
        assert at_top, f"{name} imports {imported} inside a function: move it to the top of the module"
        private = [n for n in names if n.startswith("_")]
        assert not private, f"{name} imports private names {private} from {imported}"


def test_there_is_no_import_cycle():
    edges = graph()
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join(stack[stack.index(nxt) :] + [nxt]) if nxt in stack else nxt)
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def test_the_checker_catches_a_lesson_importing_machinery_and_a_cycle(tmp_path):
    """The rules can fail: a lesson reaching into the course, and a course module importing one above it."""
    assert not allowed("utils.metrics", "utils.course.catalog")
    assert not allowed("utils.course.catalog", "utils.course.build")
    assert not allowed("utils.book.pages", "utils.course.files")
    assert allowed("utils.course.build", "utils.course.catalog")
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from utils.course import build\n    return build\n")
    assert utils_imports(module) == [("utils.course.build", ["build"], False)]
