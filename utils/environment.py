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
    # Fixed string hashing makes set iteration, and so every seeded run, repeat. Python reads it at start-up:
    # it applies to the kernels and processes started from here (and the Makefile exports it for the rest).
    "PYTHONHASHSEED": "0",
}

# Warnings raised inside libraries about their own internals, which a learner cannot act on. Each appears only the
# first time an operation runs on an empty cache, so leaving it on would make a checked output depend on the cache
# (found in notebook 07: ``Dataset.sort`` on a cold datasets cache). Matched by message, never by a whole category:
# a deprecation in code the learner writes must still show.
LIBRARY_NOISE: tuple[tuple[str, type[Warning]], ...] = (
    # pyarrow 26 deprecates a SortOptions argument that datasets 5.2 passes on every first sort
    (r"Specifying null_placement in SortOptions is deprecated", FutureWarning),
    # transformers 5.24 renamed it `is_activation_checkpointing`; PEFT 0.21 calls the old name inside get_peft_model and
    # PeftModel.from_pretrained, whatever the learner passes
    (r"`is_gradient_checkpointing` is deprecated", FutureWarning),
)

# Library loggers kept at WARNING although TRANSFORMERS_VERBOSITY=error quiets the rest, because their warning is
# the explanation of an error the learner is about to see (a text longer than the model's positions crashes the
# forward pass with a bare size mismatch).
EXPLAINING_LOGGERS = ("transformers.tokenization_utils_base",)

OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE")


def hub_mode() -> bool:
    """True when the learner asked for hub checkpoints and datasets (``LLM_RETREAT_HUB=1``)."""
    return os.environ.get("LLM_RETREAT_HUB", "0").strip().lower() in {"1", "true", "yes"}


def smoke_mode() -> bool:
    """True in smoke mode (``LLM_RETREAT_SMOKE=1``: set by ``make test`` and CI)."""
    return os.environ.get("LLM_RETREAT_SMOKE", "0").strip().lower() in {"1", "true", "yes"}


def bf16_enabled() -> bool:
    """True when bfloat16 autocast pays off here: the CPU computes bfloat16 in hardware (Intel AMX or AVX512-BF16:
    recent Xeons, AMD Zen 4) and ``LLM_RETREAT_BF16`` is not ``0``. Elsewhere autocast emulates bfloat16, slower than
    float32, so notebooks and builds that use autocast keep float32 there (``LLM_RETREAT_BF16=0`` stands in for such a
    laptop on a CPU that has it)."""
    if os.environ.get("LLM_RETREAT_BF16", "1").strip().lower() in {"0", "false", "no"}:
        return False
    import torch

    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # torch.cpu has no public probe yet
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def present_mode() -> bool:
    """True when training cells should load the last full run instead of training (``LLM_RETREAT_PRESENT=1``).

    Read at call time, so ``%env LLM_RETREAT_PRESENT=1`` in a notebook's first cell is enough (see ``utils.present``).
    """
    return os.environ.get("LLM_RETREAT_PRESENT", "0").strip().lower() in {"1", "true", "yes"}


def configure() -> None:
    """Set the offline and quiet variables, unless already set by the caller.

    In hub mode the offline flags are left unset so that downloads can happen.
    """
    for key, value in environment_defaults().items():
        os.environ.setdefault(key, value)
    silence_library_noise()


def environment_defaults() -> dict[str, str]:
    """The variables every kernel and tool gets: quiet defaults, plus the offline flags unless in hub mode.

    The one source of these values: ``configure`` applies them in-process and the Makefile exports them
    (``python utils/environment.py --make``).
    """
    values = dict(QUIET_OFFLINE_DEFAULTS)
    if not hub_mode():
        values.update({key: "1" for key in OFFLINE_FLAGS})
    return values


def silence_library_noise() -> None:
    """Filter the library-internal warnings of :data:`LIBRARY_NOISE`; keep :data:`EXPLAINING_LOGGERS` at WARNING."""
    import logging
    import warnings

    for message, category in LIBRARY_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name in EXPLAINING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def asset_home() -> Path:
    """The folder for everything fetched or built (``LLM_RETREAT_HOME``, default ``~/.cache/llm-retreat``)."""
    configured = os.environ.get("LLM_RETREAT_HOME")
    home = Path(configured).expanduser() if configured else Path.home() / ".cache" / "llm-retreat"
    return home


REPO_ROOT = Path(__file__).resolve().parents[1]


def display_path(path: Path | str, asset_relative: bool = True) -> str:
    """How a path is printed, so that no output carries a machine-specific path.

    Inside the asset home: ``<asset home>/...`` (unless ``asset_relative=False``); inside the repository: relative
    to its root; inside the user's home: ``~/...``; anything else as given.
    """
    path = Path(path)
    bases = [(asset_home(), "<asset home>")] if asset_relative else []
    bases += [(REPO_ROOT, ""), (Path.home(), "~")]
    for base, shown in bases:
        try:
            relative = path.resolve().relative_to(base.resolve()).as_posix()
        except (ValueError, OSError):
            continue
        relative = "" if relative == "." else relative
        return "/".join(part for part in (shown, relative) if part) or "."
    return str(path)


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


if __name__ == "__main__":  # `python utils/environment.py --make`: the Makefile's exports, one KEY=VALUE per line
    import sys

    if sys.argv[1:] == ["--make"]:
        print("\n".join(f"{key}={value}" for key, value in environment_defaults().items()))
    else:
        raise SystemExit("usage: python utils/environment.py --make")
