import random

import numpy as np
import torch

from utils import banner, scaled, seed_everything
from utils.modes import mode_name


def test_smoke_mode_shrinks_and_says_so(monkeypatch):
    monkeypatch.setenv("LLM_RETREAT_SMOKE", "1")
    assert scaled(full=8000, smoke=200) == 200
    assert mode_name() == "smoke"
    assert banner().startswith("SMOKE MODE")


def test_full_mode_is_the_default(monkeypatch):
    monkeypatch.delenv("LLM_RETREAT_SMOKE", raising=False)
    assert scaled(full=8000, smoke=200) == 8000
    assert mode_name() == "full"
    assert "SMOKE" not in banner() and banner().startswith("Full mode")


def test_smoke_settings_are_smaller_than_full_for_every_stand_in():
    from utils.course.registry import SPECS

    for spec in SPECS.values():
        assert spec.smoke.train_limit is not None
        assert spec.smoke.epochs <= spec.full.epochs


def test_seed_helper_makes_random_steps_repeat():
    def draw():
        seed_everything(7)
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    assert draw() == draw()
