import pytest

from utils import checkpoint, dataset_args
from utils.course import catalog, prepared, registry
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


@pytest.mark.assets
def test_local_checkpoint_resolves_to_the_asset_home_and_prints_one_line(capsys):
    path = checkpoint("minilm")
    assert path == str(asset_home() / "models/all-MiniLM-L6-v2")
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and printed[0].startswith("minilm: all-MiniLM-L6-v2, real pretrained weights")
    assert "<asset home>/models/all-MiniLM-L6-v2" in printed[0]


@pytest.mark.assets
def test_stand_in_says_it_is_a_stand_in(capsys):
    checkpoint("sentiment")
    line = capsys.readouterr().out
    assert "STAND-IN" in line and "distilbert/distilbert-base-uncased-finetuned-sst-2-english" in line


@pytest.fixture
def hub_online(monkeypatch):
    """Hub mode with the hub declared reachable (unit tests never touch the network)."""
    monkeypatch.setenv("LLM_RETREAT_HUB", "1")
    monkeypatch.setattr(catalog, "hub_reachable", lambda timeout=3.0: True)


@pytest.mark.assets
def test_hub_switch_returns_hub_ids(hub_online, capsys):
    assert checkpoint("sentiment") == "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
    assert checkpoint("smollm2") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert dataset_args("movie-reviews") == {"path": "cornell-movie-review-data/rotten_tomatoes"}
    assert dataset_args("humaneval") == {"path": "openai/openai_humaneval"}
    # kit-only data stays local even in hub mode, and says so
    assert dataset_args("wiki-en")["path"] == "json"
    out = capsys.readouterr().out
    assert "hub checkpoint distilbert/distilbert-base-uncased-finetuned-sst-2-english" in out
    assert "revision" not in out  # loading always uses the main revision: no other is printed
    assert "no hub counterpart: loaded locally" in out


def test_hub_mode_says_what_differs(hub_online, capsys):
    dataset_args("qa")
    checkpoint("ner")
    out = capsys.readouterr().out
    assert "no 'test' split" in out
    assert "cased" in out and "id2label" in out


def test_hub_mode_offline_fails_at_once_naming_the_switch(monkeypatch):
    def unreachable(address, timeout=None):
        raise OSError(f"[Errno -2] Name or service not known: {address[0]}")

    monkeypatch.setenv("LLM_RETREAT_HUB", "1")
    monkeypatch.setattr(catalog.socket, "create_connection", unreachable)
    catalog.hub_reachable.cache_clear()
    try:
        with pytest.raises(ConnectionError, match=r"LLM_RETREAT_HUB=1 .*cannot be reached.*Unset the switch"):
            checkpoint("minilm")
        with pytest.raises(ConnectionError, match="LLM_RETREAT_HUB"):
            dataset_args("emotion")
    finally:
        catalog.hub_reachable.cache_clear()


def _local_splits(name: str) -> tuple[str, ...]:
    if name in prepared.PREPARED:
        return prepared.PREPARED[name].splits
    return catalog.SPLITS


def _splits_used_by_notebooks(name: str) -> set[str]:
    """Split names read in notebooks that load dataset ``name``."""
    import json
    import re

    used = set()
    for path in sorted((catalog.REPO_DATA.parent / "notebooks").glob("*.ipynb")):
        code = "\n".join(
            "".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"
        )
        if f'dataset_args("{name}")' in code:
            # a split read straight off another dataset's load (wiki-en's ["train"] beside humaneval) is not this one's
            code = re.sub(r'dataset_args\("(?!' + re.escape(name) + r'")[^"]+"\)\)\s*\[\s*"\w+"\s*\]', "", code)
            used |= set(re.findall(r'\[\s*"(train|validation|test)"\s*\]', code))
    return used


@pytest.mark.parametrize("name", [n for n, e in catalog.DATASETS.items() if e.hub_id])
def test_every_hub_dataset_declares_how_its_splits_differ(name):
    entry = catalog.DATASETS[name]
    assert entry.hub_splits, f"{name}: declare the hub dataset's splits"
    for split in (set(_local_splits(name)) | _splits_used_by_notebooks(name)) - set(entry.hub_splits):
        assert f"'{split}'" in entry.hub_differences, f"{name}: the hub has no {split!r} split; say so"


@pytest.mark.parametrize("name", [n for n, e in catalog.MODELS.items() if e.local is None])
def test_every_hub_stand_in_declares_labels_and_casing(name):
    entry = catalog.MODELS[name]
    spec = registry.spec(name)
    assert entry.hub_id == spec.stands_in_for  # one source: the registry
    assert entry.hub_cased is not None, f"{name}: declare whether the hub checkpoint is cased"
    if entry.hub_cased:  # every local encoder is uncased MiniLM
        assert "cased" in entry.hub_differences and "tokenizer" in entry.hub_differences
    if entry.hub_labels is not None and list(entry.hub_labels) != [spec.id2label[i] for i in sorted(spec.id2label)]:
        assert entry.hub_differences, f"{name}: the hub's labels differ from the stand-in's; say how"
    if (
        entry.hub_labels is not None
        and sorted(entry.hub_labels) == sorted(spec.id2label.values())
        and list(entry.hub_labels) != [spec.id2label[i] for i in sorted(spec.id2label)]
    ):
        assert "order" in entry.hub_differences and "id2label" in entry.hub_differences


def test_missing_model_names_the_command_that_fetches_it(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM_RETREAT_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"make kit"):
        checkpoint("smollm2")
    with pytest.raises(FileNotFoundError, match=r"make kit"):
        dataset_args("movie-reviews")


def test_missing_stand_in_without_the_kit_names_the_command_that_fetches_it(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM_RETREAT_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"base model all-MiniLM-L6-v2.*make kit"):
        checkpoint("sentiment")


@pytest.mark.assets
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


@pytest.mark.assets
def test_humaneval_loads_by_name_with_the_hub_columns_and_164_problems(capsys):
    from datasets import load_dataset

    raw_datasets = load_dataset(**dataset_args("humaneval"))
    assert capsys.readouterr().out.startswith("humaneval: HumanEval: 164 Python problems")
    assert list(raw_datasets) == ["test"]  # openai/openai_humaneval has one split, "test"
    problems = raw_datasets["test"]
    assert problems.column_names == ["task_id", "prompt", "canonical_solution", "test", "entry_point"]
    assert len(problems) == 164 and problems[0]["task_id"] == "HumanEval/0"
    assert problems["task_id"][-1] == "HumanEval/163"
    assert all(f"def {p['entry_point']}" in p["prompt"] for p in problems)
