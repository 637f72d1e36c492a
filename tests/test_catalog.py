import pytest

from utils import catalog, checkpoint, dataset_args
from utils.environment import asset_home


def test_unknown_model_name_lists_the_valid_names():
    with pytest.raises(ValueError) as failure:
        checkpoint("sentimnet")
    message = str(failure.value)
    assert "'sentimnet'" in message
    for name in catalog.model_names():
        assert name in message


def test_unknown_dataset_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="valid names: .*movie-reviews"):
        dataset_args("imdb")


def test_local_checkpoint_resolves_to_the_asset_home_and_prints_one_line(capsys):
    path = checkpoint("minilm")
    assert path == str(asset_home() / "models/all-MiniLM-L6-v2")
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and printed[0].startswith("minilm: all-MiniLM-L6-v2, real pretrained weights")
    assert "<asset home>/models/all-MiniLM-L6-v2" in printed[0]


def test_stand_in_says_it_is_a_stand_in(capsys):
    checkpoint("sentiment")
    line = capsys.readouterr().out
    assert "STAND-IN" in line and "distilbert/distilbert-base-uncased-finetuned-sst-2-english" in line


def test_hub_switch_returns_hub_ids(monkeypatch, capsys):
    monkeypatch.setenv("LLM_RETREAT_HUB", "1")
    assert checkpoint("sentiment") == "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
    assert checkpoint("smollm2") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert dataset_args("movie-reviews") == {"path": "cornell-movie-review-data/rotten_tomatoes"}
    # kit-only data stays local even in hub mode, and says so
    assert dataset_args("wiki-en")["path"] == "json"
    out = capsys.readouterr().out
    assert "hub checkpoint distilbert/distilbert-base-uncased-finetuned-sst-2-english (revision 714eb0f)" in out
    assert "no hub counterpart: loaded locally" in out


def test_missing_model_names_the_command_that_fetches_it(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM_RETREAT_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"python -m utils\.kit fetch"):
        checkpoint("smollm2")
    with pytest.raises(FileNotFoundError, match=r"python -m utils\.kit fetch"):
        dataset_args("movie-reviews")


def test_missing_stand_in_names_the_command_that_builds_it(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM_RETREAT_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"python -m utils\.standins build sentiment"):
        checkpoint("sentiment")


def test_movie_reviews_load_with_the_hub_counterpart_schema():
    from datasets import ClassLabel, load_dataset

    raw_datasets = load_dataset(**dataset_args("movie-reviews"))
    assert set(raw_datasets) == {"train", "validation", "test"}
    features = raw_datasets["train"].features
    assert list(features) == ["text", "label"]  # rotten_tomatoes: text, label (neg, pos)
    assert isinstance(features["label"], ClassLabel) and features["label"].names == ["neg", "pos"]
    sizes = {name: len(split) for name, split in raw_datasets.items()}
    assert sizes["train"] > 8000 and 1000 < sizes["test"] < 1200
    texts = [set(raw_datasets[name]["text"]) for name in ("train", "validation", "test")]
    assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])


def test_every_catalog_name_has_a_description():
    for name in catalog.model_names():
        assert catalog.describe(name).startswith(f"{name}: ")
    for name in catalog.dataset_names():
        assert catalog.describe(name, "dataset").startswith(f"{name}: ")


def test_a_name_used_for_a_model_and_a_dataset_resolves_by_kind(capsys):
    dataset_args("ner")
    assert capsys.readouterr().out.startswith("ner: project-written sentences")
