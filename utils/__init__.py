"""Shared helpers for the LLM Retreat notebooks.

Importing this package first sets the offline / quiet environment variables, which Hugging Face
libraries read at import time: in a notebook, ``import utils`` (or ``from utils import ...``)
before importing transformers or datasets.
"""

from utils.environment import configure as _configure

_configure()

from utils.catalog import checkpoint, dataset_args, describe, model_names, dataset_names  # noqa: E402
from utils.environment import asset_home, seed_everything  # noqa: E402
from utils.modes import banner, mode_name, scaled  # noqa: E402

__all__ = [
    "asset_home",
    "banner",
    "checkpoint",
    "dataset_args",
    "dataset_names",
    "describe",
    "mode_name",
    "model_names",
    "scaled",
    "seed_everything",
]
