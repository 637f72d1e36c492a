import json
from dataclasses import replace

import pytest

from utils import standins
from utils.standins import SPECS, fingerprint, model_card, model_dir


def test_unknown_stand_in_lists_valid_names():
    with pytest.raises(ValueError, match="unknown stand-in 'sentiments'; valid names: emotion, ner, qa, sentiment, toxicity"):
        model_dir("sentiments")


def test_every_built_stand_in_is_safetensors_only():
    for name in SPECS:
        folder = model_dir(name)
        assert (folder / "model.safetensors").is_file(), f"{name} is not built: run make setup"
        pickles = [p.name for p in folder.iterdir() if p.suffix in {".bin", ".pt", ".pkl", ".pth"}]
        assert not pickles, f"{name}: pickle files {pickles}"


def test_built_stand_in_has_card_labels_and_metrics():
    # make test builds the smoke stand-ins before the tests run
    folder = model_dir("sentiment")
    assert (folder / "model.safetensors").is_file()
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pt"))  # safetensors only
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "NEGATIVE", "1": "POSITIVE"}
    assert config["label2id"] == {"NEGATIVE": 0, "POSITIVE": 1}
    card = (folder / "README.md").read_text()
    assert "**This is a stand-in, not distilbert/distilbert-base-uncased-finetuned-sst-2-english.**" in card
    info = standins.read_info("sentiment")
    assert info["fingerprint"] == fingerprint(SPECS["sentiment"], SPECS["sentiment"].settings())
    for split in ("validation", "test"):
        assert 0.0 <= info["metrics"][split]["accuracy"] <= 1.0
        assert f"| {split} | {info['metrics'][split]['accuracy']:.4f} |" in card
    sizes = info["metrics"]["split_sizes"]
    assert f"train {sizes['train']}, validation {sizes['validation']}, test {sizes['test']}" in card


def test_rebuild_is_skipped_when_nothing_changed():
    spec = SPECS["sentiment"]
    assert standins.read_info("sentiment")["fingerprint"] == fingerprint(spec, spec.settings()), \
        "the smoke stand-in is stale: run `make setup LLM_RETREAT_SMOKE=1` before the tests"
    messages = []
    standins.build("sentiment", log=messages.append)
    assert messages == ["sentiment: up to date (smoke build)"]


def test_fingerprint_changes_with_settings():
    spec = SPECS["sentiment"]
    base = fingerprint(spec, spec.full)
    assert fingerprint(spec, replace(spec.full, learning_rate=1e-5)) != base
    assert fingerprint(spec, replace(spec.full)) == base


def test_model_card_reports_what_it_was_given():
    spec = SPECS["sentiment"]
    info = {"mode": "full", "train_seconds": 12.0, "threads": 2,
            "metrics": {"split_sizes": {"train": 10, "validation": 5, "test": 6},
                        "validation": {"accuracy": 0.5}, "test": {"accuracy": 0.25}}}
    card = model_card(spec, spec.full, info)
    assert "| test | 0.2500 |" in card
    assert "train 10, validation 5, test 6" in card
    assert "stand-in" in card.splitlines()[0]
