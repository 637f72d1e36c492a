"""What notebooks call: a catalog name in, what the real library call takes out, with one line saying what it is.

    model = AutoModel.from_pretrained(checkpoint("minilm"))
    raw_datasets = load_dataset(**dataset_args("movie-reviews"))

The top of the course layer: a stand-in that is not built yet is trained here on first use (with a progress bar),
so a learner can open the first notebook minutes after installing instead of waiting for every stand-in.
"""

from __future__ import annotations

from typing import Any

from utils.course import build, catalog, course_models, course_runs, registry
from utils.environment import hub_mode


def checkpoint(name: str) -> str:
    """Resolve a model name to what ``from_pretrained``/``pipeline`` take, printing one line.

    Returns the local folder (default) or the hub id (``LLM_RETREAT_HUB=1``). A stand-in that is not built yet is
    trained now, once. Raises ValueError for an unknown name (listing the valid ones), FileNotFoundError with the
    command that fixes it when a kit asset is missing, and ConnectionError naming the switch when hub mode is on but
    the hub cannot be reached.
    """
    if name in course_models.SPECS:  # this project's own models: local in both modes, built on first use
        if not course_models.is_built(name):
            print(
                f"{name}: the course model is not built yet; building it now, once (later runs load it). "
                "To build every course model ahead of time: make course-models"
            )
            course_models.build(name)
        print(course_models.describe(name))
        return str(course_models.model_dir(name))
    entry = catalog.model_entry(name)
    if hub_mode():
        catalog.require_hub()
        print(catalog.describe(name))
        return entry.hub_id
    if entry.local is None and not registry.is_built(name):
        print(
            f"{name}: the stand-in is not built yet; training it now, once (later runs load it). "
            "To build every stand-in ahead of time: make standins"
        )
        build.build(name)
    path = catalog.local_model_path(name)
    print(catalog.describe(name))
    return str(path)


def course_run(name: str) -> dict:
    """The results of course run ``name`` (``utils/course/course_runs.py``): its ``course_run.json`` as a dict, built
    now, once, when it is missing or its inputs changed. Prints one line. Raises ValueError for an unknown name."""
    if not course_runs.is_built(name):
        print(
            f"{name}: the course run is not built yet (or its inputs changed); running it now, once (later runs "
            "load it). To build it ahead of time: make course-models"
        )
        course_runs.build(name)
    info = course_runs.read_info(name)
    results = info["results"]
    print(
        f"{name}: course run built by this project ({course_runs.spec(name).what}; {info['mode']} build, "
        f"{results['seconds']:.0f} s on {results['threads']} threads)"
    )
    return info


def dataset_args(name: str) -> dict[str, Any]:
    """Resolve a dataset name to keyword arguments for ``datasets.load_dataset``, printing one line.

    Local (default): ``{"path": "json", "data_files": {...}, "features": ...}``; hub mode: ``{"path": hub id}``.
    Raises ValueError for an unknown name and FileNotFoundError (with the fix) when files are missing.
    """
    entry = catalog.dataset_entry(name)
    if hub_mode() and entry.hub_id:
        catalog.require_hub()
        print(catalog.describe(name, "dataset"))
        return {"path": entry.hub_id}
    args = catalog.local_dataset_args(name)
    print(catalog.describe(name, "dataset"))
    return args


def describe(name: str, kind: str = "model") -> str:
    """The line :func:`checkpoint` (kind "model") or :func:`dataset_args` (kind "dataset") prints."""
    return catalog.describe(name, kind)
