"""Notebook 09's measurements and embeddings.

- utils.retrieval: precision@k and recall@k agree with their definitions, the timer measures, bad input is named;
- the notebook's ``mean_pooling`` and ``encode_as_declared`` cells (executed from the notebook, so the test checks what
  learners read): a padded batch embedded the way the sentence-transformers folder declares equals mean pooling of
  each text alone, on random texts; truncation at the notebook's 128 tokens; a folder declaring other steps is
  refused, not miscomputed.
"""

import json
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notebook_code import NOTEBOOKS, notebook_cell, run_cells
from utils.retrieval import MISSING, Timer, mean_precision_at_k, mean_recall_at_k, precision_at_k, recall_at_k


def test_precision_counts_matching_labels_in_the_first_k():
    assert precision_at_k("Arts", ["Arts", "History", "Arts", "Arts", "Arts", "History"], k=5) == 0.8
    assert precision_at_k("Arts", ["History"] * 5, k=5) == 0.0
    assert precision_at_k(3, [3, 1], k=1) == 1.0


def test_recall_ignores_order_and_counts_overlap():
    assert recall_at_k([4, 3, 2, 1], [1, 2, 3, 4], k=4) == 1.0
    assert recall_at_k([1, 2, 9, 8], [1, 2, 3, 4], k=4) == 0.5
    assert recall_at_k(np.array([1, 2, 3, 4, 5]), np.array([1, 2, 3, 5, 6]), k=3) == 1.0  # numpy rows work


def test_missing_results_count_as_misses():
    assert recall_at_k([1, MISSING, MISSING], [1, 2, 3], k=3) == pytest.approx(1 / 3)


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 10).flatmap(
        lambda k: st.tuples(
            st.just(k),
            st.lists(st.integers(0, 30), min_size=k, max_size=k + 5),
            st.lists(st.integers(0, 30), min_size=k, max_size=k + 5, unique=True),
        )
    )
)
def test_recall_matches_the_set_definition(case):
    k, approximate, exact = case
    expected = len(set(approximate[:k]) & set(exact[:k])) / k
    assert recall_at_k(approximate, exact, k) == pytest.approx(expected)
    assert 0.0 <= recall_at_k(approximate, exact, k) <= 1.0
    assert recall_at_k(exact, exact, k) == 1.0


def test_means_over_queries():
    assert mean_precision_at_k(["a", "b"], [["a", "a"], ["a", "b"]], k=2) == 0.75
    exact = np.array([[0, 1], [2, 3]])
    assert mean_recall_at_k(np.array([[1, 0], [2, 9]]), exact, k=2) == 0.75


@pytest.mark.parametrize("k", [0, -1, 2.0, True])
def test_bad_k_is_named(k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        precision_at_k("a", ["a", "a"], k=k)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        recall_at_k([1, 2], [1, 2], k=k)


def test_too_few_results_are_refused():
    with pytest.raises(ValueError, match="precision@5 needs at least 5 results, got 2"):
        precision_at_k("a", ["a", "a"], k=5)
    with pytest.raises(ValueError, match="recall@3 needs 3 ids on each side"):
        recall_at_k([1, 2], [1, 2, 3], k=3)


def test_invalid_ground_truth_is_refused():
    with pytest.raises(ValueError, match="contains -1"):
        recall_at_k([1, 2], [1, MISSING], k=2)
    with pytest.raises(ValueError, match="repeats an id"):
        recall_at_k([1, 2], [1, 1], k=2)


def test_batches_must_match():
    with pytest.raises(ValueError, match="2 queries on one side and 1 on the other"):
        mean_recall_at_k([[1], [2]], [[1]], k=1)
    with pytest.raises(ValueError, match="zero queries"):
        mean_precision_at_k([], [], k=1)


class FakeClock:
    """Wall-clock and CPU time the test moves by hand: timer tests assert arithmetic, never the machine's speed."""

    def __init__(self):
        self.wall, self.cpu = 100.0, 5.0

    def advance(self, wall: float, cpu: float = 0.0) -> None:
        self.wall += wall
        self.cpu += cpu


@pytest.fixture
def clock(monkeypatch):
    import utils.retrieval

    fake = FakeClock()
    monkeypatch.setattr(utils.retrieval.time, "perf_counter", lambda: fake.wall)
    monkeypatch.setattr(utils.retrieval.time, "process_time", lambda: fake.cpu)
    return fake


def test_timer_measures_the_block(clock):
    with Timer() as timer:
        clock.advance(0.02)
        assert timer.seconds == pytest.approx(0.02)  # readable while running
        clock.advance(0.03)
    assert timer.seconds == pytest.approx(0.05)
    clock.advance(10.0)
    assert timer.seconds == pytest.approx(0.05)  # stopped at the end of the block


def test_timer_counts_cpu_time_apart_from_waiting(clock):
    with Timer() as timer:
        clock.advance(0.05)  # waiting costs no CPU
        clock.advance(0.02, cpu=0.02)  # working does
    assert timer.seconds == pytest.approx(0.07) and timer.cpu_seconds == pytest.approx(0.02)


def test_timer_on_the_real_clock_reports_positive_times():
    """One run on the real clocks, with no bound on speed (the machine may be loaded)."""
    with Timer() as timer:
        time.sleep(0.01)
        sum(i * i for i in range(10_000))
    assert timer.seconds >= 0.01 and timer.cpu_seconds >= 0


def test_started_timer_keeps_running():
    timer = Timer().start()
    first = timer.seconds
    time.sleep(0.01)
    assert timer.seconds > first


def test_unstarted_timer_says_how_to_use_it():
    with pytest.raises(RuntimeError, match="with Timer"):
        _ = Timer().seconds
    with pytest.raises(RuntimeError, match="with Timer"):
        _ = Timer().cpu_seconds


# --- notebook 09: the two sentence-embedding implementations ------------------------------------------------
# The cells are executed from the notebook (so the test checks what learners read) and compared on random texts.

NOTEBOOK = NOTEBOOKS / "09_semantic_search_faiss.ipynb"
WORDS = [
    "Paris",
    "the",
    "kitten",
    "café",
    "Montréal",
    "😀",
    "東京",
    "[SEP]",
    "[PAD]",
    "don't",
    "$7.5",
    "\t",
    "\n",
    "supercalifragilistic",
    "réalisatrice",
    "!!",
    "Ü",
    "photosynthesis",
]
random_texts = st.one_of(st.text(max_size=60), st.lists(st.sampled_from(WORDS), max_size=25).map(" ".join))


def load_encoder(folder: Path) -> dict:
    """Notebook 09's ``mean_pooling`` and ``encode_as_declared`` cells, run on ``folder`` (a sentence-transformers
    folder), with the notebook's ``MAX_LENGTH``."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = Path(folder)
    namespace = {
        "json": json,
        "torch": torch,
        "AutoModel": AutoModel,
        "AutoTokenizer": AutoTokenizer,
        "folder": folder,
        "modules": json.loads((folder / "modules.json").read_text()),
    }
    assert "MAX_LENGTH = 128 " in notebook_cell(NOTEBOOK, "MAX_LENGTH = ")  # that cell needs the whole corpus: copy it
    namespace["MAX_LENGTH"] = 128
    return run_cells(NOTEBOOK, ["def mean_pooling", "def encode_as_declared"], namespace)


@pytest.fixture(scope="module")
def notebook():
    from utils import checkpoint

    return load_encoder(checkpoint("minilm"))


def by_hand(notebook, text, max_length=128):
    """Section 3's recipe on one text, alone (no padding at all)."""
    import torch

    tokenizer, model = notebook["folder_tokenizer"], notebook["folder_model"]
    inputs = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.inference_mode():
        pooled = notebook["mean_pooling"](model(**inputs).last_hidden_state, inputs["attention_mask"])
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()[0]


@pytest.mark.assets
def test_the_folder_declares_what_the_cell_implements(notebook):
    assert notebook["declared"] == (["Transformer", "Pooling", "Normalize"], ["mean_tokens"])


@pytest.mark.assets
@settings(max_examples=15, deadline=None)
@given(st.lists(random_texts, min_size=1, max_size=4))
def test_padded_batch_from_the_folder_equals_mean_pooling_alone(notebook, texts):
    batched = notebook["encode_as_declared"](texts)
    assert batched.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    for text, vector in zip(texts, batched):
        np.testing.assert_allclose(vector, by_hand(notebook, text), atol=1e-5)


@pytest.mark.assets
def test_long_text_is_truncated_at_the_chosen_length(notebook):
    encode, tokenizer = notebook["encode_as_declared"], notebook["folder_tokenizer"]
    long_text = "The Nile is a river in Africa. " * 200
    first_126 = tokenizer.decode(tokenizer(long_text)["input_ids"][1:127])
    np.testing.assert_allclose(encode([long_text, "a"])[0], by_hand(notebook, long_text), atol=1e-5)
    # the first 126 pieces plus [CLS] and [SEP] are all the model sees at MAX_LENGTH = 128
    np.testing.assert_allclose(encode([long_text])[0], encode([first_126])[0], atol=1e-5)
    assert not np.allclose(encode([long_text])[0], by_hand(notebook, long_text, max_length=256), atol=1e-3)


def _folder_like_minilm(tmp_path: Path, pooling: dict | None = None, extra_module: dict | None = None) -> Path:
    from utils import checkpoint

    source = Path(checkpoint("minilm"))
    for item in source.iterdir():
        if item.name not in ("modules.json", "1_Pooling"):
            (tmp_path / item.name).symlink_to(item)
    (tmp_path / "1_Pooling").mkdir()
    config = json.loads((source / "1_Pooling" / "config.json").read_text())
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({**config, **(pooling or {})}))
    modules = json.loads((source / "modules.json").read_text()) + ([extra_module] if extra_module else [])
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    return tmp_path


@pytest.mark.assets
def test_another_pooling_mode_is_refused_not_miscomputed(tmp_path):
    folder = _folder_like_minilm(tmp_path, pooling={"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True})
    with pytest.raises(AssertionError, match="cls_token"):
        load_encoder(folder)


@pytest.mark.assets
def test_an_extra_module_is_refused(tmp_path):
    folder = _folder_like_minilm(
        tmp_path, extra_module={"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}
    )
    with pytest.raises(AssertionError, match="Dense"):
        load_encoder(folder)


def test_the_short_list_guard_sits_exactly_at_k():
    assert precision_at_k("a", ["a", "b", "a"], k=3) == pytest.approx(2 / 3)  # exactly k results are enough
    with pytest.raises(ValueError, match="precision@3 needs at least 3 results, got 2"):
        precision_at_k("a", ["a", "a"], k=3)  # k - 1 are not: dividing by k would hide the missing one
