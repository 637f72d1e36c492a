"""Kernel environment: offline flags, quiet logs, the asset home, smoke mode and seeds.

Hugging Face libraries read their offline and progress-bar variables when they are imported,
so :func:`configure` must run before ``import transformers`` / ``import datasets``.
``import utils`` calls it; the Makefile and pytest set the same variables for CI.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

# Variables every kernel gets unless the caller already chose a value.
QUIET_OFFLINE_DEFAULTS: dict[str, str] = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}

OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE")


def hub_mode() -> bool:
    """True when the learner asked for hub checkpoints and datasets (``LLM_RETREAT_HUB=1``)."""
    return os.environ.get("LLM_RETREAT_HUB", "0").strip().lower() in {"1", "true", "yes"}


def smoke_mode() -> bool:
    """True in smoke mode (``LLM_RETREAT_SMOKE=1``: set by ``make test`` and CI)."""
    return os.environ.get("LLM_RETREAT_SMOKE", "0").strip().lower() in {"1", "true", "yes"}


def configure() -> None:
    """Set the offline and quiet variables, unless already set by the caller.

    In hub mode the offline flags are left unset so that downloads can happen.
    """
    for key, value in QUIET_OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if not hub_mode():
        for key in OFFLINE_FLAGS:
            os.environ.setdefault(key, "1")


def asset_home() -> Path:
    """The folder for everything fetched or built (``LLM_RETREAT_HOME``, default ``~/.cache/llm-retreat``)."""
    configured = os.environ.get("LLM_RETREAT_HOME")
    home = Path(configured).expanduser() if configured else Path.home() / ".cache" / "llm-retreat"
    return home


def seed_everything(seed: int = 42) -> int:
    """Seed Python's ``random``, NumPy and torch so that every random step repeats; returns the seed.

    (String hashing is fixed per process by ``PYTHONHASHSEED``, which the Makefile sets; it cannot be
    changed from inside a running process.)
    """
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is always installed with the project
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass
    return seed
