import json
import shutil
from dataclasses import replace

import pytest

from utils.course import build, catalog, registry
from utils.course.build import fingerprint, model_card
from utils.course.registry import SPECS, model_dir


def test_unknown_stand_in_lists_valid_names():
    with pytest.raises(
        ValueError, match="unknown stand-in 'sentiments'; valid names: emotion, ner, qa, sentiment, toxicity"
    ):
        model_dir("sentiments")


@pytest.mark.assets
def test_every_built_stand_in_is_safetensors_only():
    for name in SPECS:
        folder = model_dir(name)
        assert (folder / "model.safetensors").is_file(), f"{name} is not built: run make setup"
        pickles = [p.name for p in folder.iterdir() if p.suffix in {".bin", ".pt", ".pkl", ".pth"}]
        assert not pickles, f"{name}: pickle files {pickles}"


@pytest.mark.assets
def test_built_stand_in_has_card_labels_and_metrics_it_really_earned():
    # make test builds the smoke stand-ins before the tests run
    folder = model_dir("sentiment")
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "NEGATIVE", "1": "POSITIVE"}
    assert config["label2id"] == {"NEGATIVE": 0, "POSITIVE": 1}
    card = (folder / "README.md").read_text()
    assert "**This is a stand-in, not distilbert/distilbert-base-uncased-finetuned-sst-2-english.**" in card
    info = registry.read_info("sentiment")
    assert info["fingerprint"] == fingerprint(SPECS["sentiment"], SPECS["sentiment"].settings())
    for split in ("validation", "test"):
        accuracy = info["metrics"][split]["accuracy"]
        # even the smoke build (800 sentences, one epoch) learns: well above the 0.5 of a coin or a majority vote
        assert accuracy > 0.65, f"{split} accuracy {accuracy}: the stand-in did not learn"
        assert f"| {split} | {accuracy:.4f} |" in card
    sizes = info["metrics"]["split_sizes"]
    assert f"train {sizes['train']}, validation {sizes['validation']}, test {sizes['test']}" in card


@pytest.mark.assets
def test_rebuild_is_skipped_when_nothing_changed():
    spec = SPECS["sentiment"]
    assert registry.read_info("sentiment")["fingerprint"] == fingerprint(spec, spec.settings()), (
        "the smoke stand-in is stale: run `make setup LLM_RETREAT_SMOKE=1` before the tests"
    )
    messages = []
    build.build("sentiment", log=messages.append)
    assert messages == ["sentiment: up to date (smoke build)"]


@pytest.fixture
def base_model_marker(tmp_path, monkeypatch):
    """An asset home holding only the base model's marker: enough to compute fingerprints without the kit."""
    from utils.course.files import asset_path, write_marker

    monkeypatch.setenv("LLM_RETREAT_HOME", str(tmp_path / "home"))
    folder = asset_path(registry.BASE_MODEL)
    folder.mkdir(parents=True)
    write_marker(folder, "base-model-stamp")


def test_fingerprint_changes_with_settings(base_model_marker):
    spec = SPECS["emotion"]
    base = fingerprint(spec, spec.full)
    assert fingerprint(spec, replace(spec.full, learning_rate=1e-5)) != base
    assert fingerprint(spec, replace(spec.full)) == base


@pytest.fixture
def copied_data(tmp_path, monkeypatch):
    """A copy of data/ that the catalog reads instead of the repository's."""
    data = tmp_path / "data"
    shutil.copytree(catalog.REPO_DATA, data, ignore=shutil.ignore_patterns("README.md"))
    monkeypatch.setattr(catalog, "REPO_DATA", data)
    return data


@pytest.mark.parametrize("name", ["emotion", "toxicity", "ner"])
def test_editing_a_committed_data_file_demands_a_rebuild(base_model_marker, copied_data, name):
    spec = SPECS[name]
    before = fingerprint(spec, spec.full)
    train = copied_data / spec.dataset / "train.jsonl"
    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    train.write_text("".join(lines[:-1]), encoding="utf-8")  # one training example fewer
    assert fingerprint(spec, spec.full) != before


def test_every_training_helper_is_an_input_and_editing_one_demands_a_rebuild(base_model_marker, tmp_path, monkeypatch):
    files = build.training_code_files()
    assert {f.name for f in files} == {"training.py", "task_features.py", "metrics.py"}
    copies = []
    for source in files:
        copy = tmp_path / source.name
        shutil.copy(source, copy)
        copies.append(copy)
    monkeypatch.setattr(build, "training_code_files", lambda: tuple(copies))
    spec = SPECS["emotion"]
    before = fingerprint(spec, spec.full)
    for copy in copies:
        original = copy.read_text()
        copy.write_text(original + "\n# an edit\n")
        assert fingerprint(spec, spec.full) != before, f"editing {copy.name} went unnoticed"
        copy.write_text(original)
    assert fingerprint(spec, spec.full) == before


def test_library_versions_and_the_code_version_are_inputs(base_model_marker, monkeypatch):
    spec = SPECS["emotion"]
    before = fingerprint(spec, spec.full)
    versions = build.library_versions()
    monkeypatch.setattr(build, "library_versions", lambda: {**versions, "transformers": "99.0"})
    assert fingerprint(spec, spec.full) != before
    monkeypatch.setattr(build, "library_versions", lambda: versions)
    assert fingerprint(spec, spec.full) == before
    monkeypatch.setattr(build, "TRAINING_CODE_VERSION", build.TRAINING_CODE_VERSION + 1)
    assert fingerprint(spec, spec.full) != before


@pytest.mark.parametrize("native", [True, False])
def test_bf16_autocast_only_where_the_cpu_has_it_and_the_build_records_it(
    base_model_marker, tmp_path, monkeypatch, native
):
    from utils.course import training

    monkeypatch.delenv("LLM_RETREAT_BF16", raising=False)
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: native)
    spec = SPECS["emotion"]
    wanted = replace(spec.full, bf16=True)
    assert training._training_args(wanted, str(tmp_path)).bf16 is native
    assert training._training_args(replace(wanted, bf16=False), str(tmp_path)).bf16 is False
    monkeypatch.setenv("LLM_RETREAT_BF16", "0")  # forced off: fp32 even on a CPU with bf16
    assert training._training_args(wanted, str(tmp_path)).bf16 is False
    forced_off = fingerprint(spec, wanted)
    monkeypatch.delenv("LLM_RETREAT_BF16")
    # the same settings train in another precision where the CPU has bf16, so they are another build
    assert (fingerprint(spec, wanted) != forced_off) is native


def test_model_card_reports_what_it_was_given():
    spec = SPECS["sentiment"]
    info = {
        "mode": "full",
        "train_seconds": 12.0,
        "threads": 2,
        "metrics": {
            "split_sizes": {"train": 10, "validation": 5, "test": 6},
            "validation": {"accuracy": 0.5},
            "test": {"accuracy": 0.25},
        },
    }
    card = model_card(spec, spec.full, info)
    assert "| test | 0.2500 |" in card
    assert "train 10, validation 5, test 6" in card
    assert "stand-in" in card.splitlines()[0]


def test_stand_in_predictions_come_back_in_dataset_order_with_length_grouping(tmp_path):
    """transformers 5 groups evaluation batches by length too when training does; the QA decoder matches by position."""
    import numpy as np
    import torch
    from datasets import Dataset
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    from utils.course.training import _predict_in_order

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=200,
    )
    lengths = np.random.default_rng(0).integers(2, 60, size=200)
    rows = Dataset.from_dict({"input_ids": [[1] * int(n) for n in lengths], "labels": list(range(200))})
    arguments = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_eval_batch_size=4,
        report_to="none",
        use_cpu=True,
        train_sampling_strategy="group_by_length",
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=BertForSequenceClassification(config),
        args=arguments,
        data_collator=lambda batch: {
            key: torch.tensor(
                np.array(
                    [np.pad(row[key], (0, 60 - len(row[key]))) if key == "input_ids" else row[key] for row in batch]
                )
            )
            for key in batch[0]
        },
    )
    assert (trainer.predict(rows).label_ids != np.arange(200)).any(), "the trap this guards against is gone"
    assert (_predict_in_order(trainer, rows).label_ids == np.arange(200)).all()
