"""Shared helpers for the LLM Retreat notebooks.

Importing this package first sets the offline / quiet environment variables, which Hugging Face
libraries read at import time: in a notebook, ``import utils`` (or ``from utils import ...``)
before importing transformers or datasets.

Two rooms (README, "Where things live"): the lesson helpers at this level (metrics, plots, baselines, ...) that
notebooks import, and two sub-packages of machinery notebooks never import: ``utils.course`` (kit, datasets,
stand-ins, catalog) and ``utils.book`` (executing notebooks into the HTML book, slides, timings). The names below
are the course's public face: what a notebook needs to find its models and data.
"""

from utils.environment import configure as _configure

_configure()

from utils.course.resolve import checkpoint, course_run, dataset_args, describe  # noqa: E402
from utils.course.catalog import dataset_names, model_names  # noqa: E402
from utils.environment import asset_home, bf16_enabled, seed_everything  # noqa: E402
from utils.modes import banner, mode_name, scaled  # noqa: E402

__all__ = [
    "asset_home",
    "banner",
    "bf16_enabled",
    "checkpoint",
    "course_run",
    "dataset_args",
    "dataset_names",
    "describe",
    "mode_name",
    "model_names",
    "scaled",
    "seed_everything",
]
