"""Full mode versus smoke mode: the only place that turns the mode into sizes.

Notebook cells are identical in both modes; they ask this module how big a slice or how
many steps to use, e.g. ``n_train = scaled(full=8000, smoke=200)``.
"""

from __future__ import annotations

from typing import TypeVar

from utils.environment import hub_mode, present_mode, smoke_mode

T = TypeVar("T")


def scaled(full: T, smoke: T) -> T:
    """Return ``smoke`` in smoke mode and ``full`` otherwise."""
    return smoke if smoke_mode() else full


def mode_name() -> str:
    """``"smoke"`` or ``"full"``."""
    return "smoke" if smoke_mode() else "full"


def banner() -> str:
    """One line describing the mode and where models come from; notebooks print it in their first cell.

    The smoke-mode text is distinctive on purpose: hygiene tests refuse committed notebooks that
    contain it, because committed outputs must come from a full-mode run.
    """
    source = "Hugging Face hub (LLM_RETREAT_HUB=1)" if hub_mode() else "local offline assets"
    if smoke_mode():
        line = (
            "SMOKE MODE: tiny slices and short training (LLM_RETREAT_SMOKE=1); numbers below are not "
            f"meaningful. Models and data: {source}."
        )
    else:
        line = f"Full mode. Models and data: {source}."
    if present_mode():
        line += f"\n{PRESENT_BANNER}"
    return line


# Hygiene tests refuse committed notebooks whose outputs contain this text: committed outputs come from real training.
PRESENT_BANNER = (
    "PRESENT MODE (LLM_RETREAT_PRESENT=1): training cells load the model and logs saved by the last run in this "
    "mode instead of training."
)
