"""Evaluate metric modules written by this project, loadable offline.

``evaluate.load("accuracy")`` fetches a script from the hub, which is unreachable here. A local folder
``<name>/<name>.py`` that defines an ``evaluate.Metric`` loads without the network::

    import evaluate
    from utils.evaluate_modules import module_path

    accuracy = evaluate.load(module_path("accuracy"))

Each module's arithmetic lives in :mod:`utils.metrics` (or is written in its file) and is unit-tested.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    """Names of the metric modules in this folder (folders holding ``<name>/<name>.py``)."""
    return sorted(p.name for p in HERE.iterdir() if p.is_dir() and (p / f"{p.name}.py").is_file())


def module_path(name: str) -> str:
    """The folder to pass to ``evaluate.load`` for the project metric ``name``.

    Raises ValueError naming the available modules when ``name`` is not one of them.
    """
    if name not in available():
        raise ValueError(
            f"no project metric module named {name!r}; available: {', '.join(available()) or 'none'}. "
            f"Write one in utils/evaluate_modules/{name}/{name}.py"
        )
    return str(HERE / name)
