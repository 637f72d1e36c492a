"""Notebook 18's generation code equals the library's, and its reference data keeps its promises.

The logits processing (temperature, top-k, top-p) and the generate loop are executed from the notebook cells that
define them, so the tests check the code learners read:

- on random logits, temperatures, k and p (hypothesis), our processing removes exactly the tokens transformers'
  ``TemperatureLogitsWarper`` / ``TopKLogitsWarper`` / ``TopPLogitsWarper`` remove and leaves the same values;
  deliberately broken variants of top-k and top-p are shown to fail the same comparison;
- with SmolLM2 from the asset home, the loop (with and without the KV cache) gives the same tokens as
  ``model.generate``, greedy and seeded sampling (skipped with the fix when the model is missing);
- ``data/summaries`` and ``data/translation`` parse, have the promised sizes and no duplicates, and every summary
  title exists in the kit's English Wikipedia summaries.
"""

import json
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notebook_code import NOTEBOOKS, run_cells

NOTEBOOK = NOTEBOOKS / "18_text_generation.ipynb"
DATA = Path(__file__).resolve().parents[1] / "data"
PROCESSING = "def top_p_filter"
LOOP = "def generate_loop"
P_TOLERANCE = 1e-5  # a token whose better-ranked mass is this close to p may fall either side of the cut


@pytest.fixture(scope="module")
def nb():
    namespace = run_cells(NOTEBOOK, [PROCESSING, LOOP], {"torch": torch})
    return namespace


def library_processing(logits, temperature, top_k, top_p):
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    out = TemperatureLogitsWarper(temperature)(None, logits) if temperature != 1.0 else logits
    out = TopKLogitsWarper(top_k)(None, out) if top_k else out
    out = TopPLogitsWarper(top_p)(None, out) if top_p is not None and top_p < 1.0 else out
    return out


def mismatch(ours, theirs, before_top_p=None, top_p=None):
    """None when both remove the same tokens and agree on the rest; else a description.

    Tokens on the top-p boundary (better-ranked mass within P_TOLERANCE of p) may differ: the two implementations
    add the probabilities in different orders, so float rounding decides such ties.
    """
    kept_ours, kept_theirs = torch.isfinite(ours), torch.isfinite(theirs)
    differ = kept_ours != kept_theirs
    if differ.any() and top_p is not None:
        probs = before_top_p.softmax(-1)
        sorted_probs, order = probs.sort(-1, descending=True)
        mass_before = torch.empty_like(probs).scatter(-1, order, sorted_probs.cumsum(-1) - sorted_probs)
        if ((mass_before[differ] - top_p).abs() < P_TOLERANCE).all():
            differ = torch.zeros_like(differ)
    if differ.any():
        return f"{int(differ.sum())} tokens kept by one side only"
    both = kept_ours & kept_theirs
    if not torch.allclose(ours[both], theirs[both]):
        return "kept logits differ"
    return None


logit_cases = st.tuples(
    st.integers(0, 2**31 - 1),  # seed of the random logits
    st.integers(1, 3),  # batch
    st.integers(2, 400),  # vocabulary size
    st.floats(0.1, 8.0),  # logit scale
    st.floats(0.05, 3.0),  # temperature
    st.one_of(st.none(), st.integers(1, 450)),  # top_k
    st.one_of(st.none(), st.floats(0.0, 1.0)),  # top_p
)


def random_logits(seed, batch, vocab, scale):
    return torch.randn(batch, vocab, generator=torch.Generator().manual_seed(seed)) * scale


@settings(max_examples=300, deadline=None)
@given(logit_cases)
def test_processing_equals_transformers_warpers(nb, case):
    seed, batch, vocab, scale, temperature, top_k, top_p = case
    logits = random_logits(seed, batch, vocab, scale)
    ours = nb["process_logits"](logits, temperature, top_k, top_p)
    theirs = library_processing(logits, temperature, top_k, top_p)
    before_top_p = nb["process_logits"](logits, temperature, top_k, None)
    assert mismatch(ours, theirs, before_top_p, top_p) is None
    assert torch.isfinite(ours).any(dim=-1).all(), "every row keeps at least one token"


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 60), st.integers(0, 5))
def test_top_k_keeps_ties_like_transformers(nb, seed, k, n_levels):
    # integer logits have many ties: both sides keep every token tied with the k-th best
    from transformers.generation.logits_process import TopKLogitsWarper

    logits = torch.randint(0, n_levels + 1, (2, 50), generator=torch.Generator().manual_seed(seed)).float()
    assert mismatch(nb["top_k_filter"](logits, k), TopKLogitsWarper(k)(None, logits)) is None


def top_k_strict(logits, k):
    # broken: keeps only logits strictly above the k-th best, so it drops the k-th token itself
    kth_best = torch.topk(logits, min(k, logits.shape[-1])).values[..., -1:]
    return logits.masked_fill(logits <= kth_best, float("-inf"))


def top_p_including_self(logits, p):
    # broken: cuts where the cumulative mass *including* the token reaches p, one token too early
    sorted_logits, order = torch.sort(logits, descending=True)
    drop_sorted = sorted_logits.softmax(-1).cumsum(-1) >= p
    drop_sorted[..., 0] = False
    return logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))


@pytest.mark.parametrize(
    "broken, kind",
    [(top_k_strict, "top_k"), (top_p_including_self, "top_p")],
    ids=["top-k drops the k-th", "top-p cuts one token early"],
)
def test_broken_processing_is_caught(nb, broken, kind):
    """The comparison can fail: plausible off-by-one variants disagree with the library on random logits."""
    failures = 0
    for seed in range(20):
        logits = random_logits(seed, 2, 200, 3.0)
        if kind == "top_k":
            failures += mismatch(broken(logits, 10), library_processing(logits, 1.0, 10, None)) is not None
            assert mismatch(nb["top_k_filter"](logits, 10), library_processing(logits, 1.0, 10, None)) is None
        else:
            failures += (
                mismatch(broken(logits, 0.8), library_processing(logits, 1.0, None, 0.8), logits, 0.8) is not None
            )
            assert (
                mismatch(nb["top_p_filter"](logits, 0.8), library_processing(logits, 1.0, None, 0.8), logits, 0.8)
                is None
            )
    assert failures == 20


# --- the generate loop against model.generate, on the real model -------------------------------------------------


@pytest.fixture(scope="module")
def smollm2():
    from utils import checkpoint

    try:
        path = checkpoint("smollm2")
    except FileNotFoundError as error:
        pytest.skip(f"SmolLM2 is not in the asset home: {error}")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    messages = [{"role": "user", "content": "Tell me about the moon."}]
    input_ids = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    return model, input_ids


N_NEW = 8


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no cache"])
def test_greedy_loop_equals_generate(nb, smollm2, use_cache):
    model, input_ids = smollm2
    expected = model.generate(input_ids, max_new_tokens=N_NEW, do_sample=False)
    assert torch.equal(nb["generate_loop"](model, input_ids, N_NEW, use_cache=use_cache), expected)


@pytest.mark.parametrize(
    "setting",
    [
        dict(temperature=0.7, top_k=0),
        dict(temperature=1.0, top_k=50),
        dict(temperature=1.2, top_k=0, top_p=0.9),
        dict(temperature=0.9, top_k=30, top_p=0.8),
    ],
    ids=["T", "default top-k 50", "top-p", "all three"],
)
def test_seeded_sampling_equals_generate(nb, smollm2, setting):
    model, input_ids = smollm2
    torch.manual_seed(7)
    expected = model.generate(input_ids, max_new_tokens=N_NEW, do_sample=True, **setting)
    torch.manual_seed(7)
    assert torch.equal(nb["generate_loop"](model, input_ids, N_NEW, do_sample=True, **setting), expected)


def test_generate_samples_with_top_k_50_by_default(nb, smollm2):
    """generate(do_sample=True) applies top_k=50 unless told otherwise: its processed scores keep 50 tokens."""
    model, input_ids = smollm2
    out = model.generate(input_ids, max_new_tokens=1, do_sample=True, return_dict_in_generate=True, output_scores=True)
    assert int(torch.isfinite(out.scores[0]).sum()) == 50


# --- the project's reference data --------------------------------------------------------------------------------


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_summaries_file():
    rows = read_jsonl(DATA / "summaries" / "summaries.jsonl")
    assert len(rows) >= 40
    assert all(set(r) == {"title", "summary"} for r in rows)
    assert len({r["title"] for r in rows}) == len(rows), "duplicate titles"
    for r in rows:
        words = len(r["summary"].split())
        sentences = len([s for s in r["summary"].replace("?", ".").split(". ") if s.strip()])
        assert 10 <= words <= 60 and sentences <= 2, (r["title"], words, sentences)


def test_summary_titles_exist_in_the_kit_and_are_not_copies():
    from utils import dataset_args

    try:
        files = dataset_args("wiki-en")["data_files"]["train"]
    except FileNotFoundError as error:
        pytest.skip(f"the kit's wiki-en summaries are not in the asset home, so titles cannot be checked: {error}")
    if not Path(files).exists():
        pytest.skip("the kit's wiki-en summaries are not in the asset home, so titles cannot be checked (make kit)")
    extracts = {row["title"]: row["extract"] for row in read_jsonl(Path(files))}
    rows = read_jsonl(DATA / "summaries" / "summaries.jsonl")
    missing = [r["title"] for r in rows if r["title"] not in extracts]
    assert not missing, f"titles not in wiki-en: {missing}"
    for r in rows:  # written in our own words: no sentence of the summary is copied from the extract
        for sentence in r["summary"].split(". "):
            assert sentence.rstrip(".") not in extracts[r["title"]] or len(sentence.split()) < 8, (r["title"], sentence)


def test_translation_file():
    rows = read_jsonl(DATA / "translation" / "en_fr.jsonl")
    assert len(rows) >= 60
    assert all(set(r) == {"en", "fr"} and r["en"].strip() and r["fr"].strip() for r in rows)
    assert len({r["en"] for r in rows}) == len(rows) and len({r["fr"] for r in rows}) == len(rows), "duplicates"
    assert all(r["en"] != r["fr"] for r in rows)
