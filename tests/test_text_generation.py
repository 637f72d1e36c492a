"""Notebook 18's generation code equals the library's, and its reference data keeps its promises.

The logits processing (temperature, top-k, top-p) and the generate loop are executed from the notebook cells that
define them, so the tests check the code learners read:

- on random logits, temperatures, k and p (hypothesis), our processing removes exactly the tokens transformers'
  ``TemperatureLogitsWarper`` / ``TopKLogitsWarper`` / ``TopPLogitsWarper`` remove and leaves the same values;
  deliberately broken variants of top-k and top-p are shown to fail the same comparison;
- with SmolLM2 from the asset home, the loop (notebook 17's hand-written decoder, with and without its hand-written
  KV cache) gives the same tokens as ``model.generate``, greedy and seeded sampling, on one prompt and on a batch
  padded on the left (skipped with the fix when the model is missing);
- ``token_nlls`` (sliding-window perplexity, section 6) on a random tiny Llama with hypothesis lengths, windows and
  strides: with stride < window every token but the first is scored exactly once, in order, with the context length it
  reports (at least window - stride past the first window), each loss equal to a separate forward pass on that
  context; with stride == window only the first token of each chunk is skipped; a window covering the text equals one
  full forward pass and ``perplexity`` is exp of the model's loss. Five broken variants (keep off by one either way,
  contexts off by one, stride ignored, logits unshifted) are caught;
- the KV-cache memory cell (formula == the cache tensors' bytes) at the full 8,192-token context, on one layer of
  SmolLM2's shape; 30 such layers are the table's 360 MiB;
- ``data/summaries`` and ``data/translation`` parse, have the promised sizes and no duplicates, and every summary
  title exists in the kit's English Wikipedia summaries.
"""

import json
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notebook_code import NOTEBOOKS, notebook_cell, run_cells

NOTEBOOK = NOTEBOOKS / "18_text_generation.ipynb"
DATA = Path(__file__).resolve().parents[1] / "data"
PROCESSING = "def top_p_filter"
LOOP = "def generate_loop"
P_TOLERANCE = 1e-5  # a token whose better-ranked mass is this close to p may fall either side of the cut


@pytest.fixture(scope="module")
def nb():
    from utils.decoder import decoder_step

    namespace = run_cells(NOTEBOOK, [PROCESSING, LOOP], {"torch": torch, "decoder_step": decoder_step})
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


@pytest.mark.parametrize(
    "setting",
    [dict(do_sample=False), dict(do_sample=True, temperature=1.0, top_k=0, top_p=0.9)],
    ids=["greedy", "top-p sampling"],
)
def test_loop_equals_generate_on_a_left_padded_batch(nb, smollm2, setting):
    """Prompts of different lengths padded on the left: the loop's hand-written cache and mask give generate's tokens."""
    from transformers import AutoTokenizer

    from utils import checkpoint

    model, _ = smollm2
    tokenizer = AutoTokenizer.from_pretrained(checkpoint("smollm2"), padding_side="left")
    questions = ["Name a planet.", "Write one sentence about the history of the bicycle.", "Why do cats purr?"]
    batch = tokenizer.apply_chat_template(
        [[{"role": "user", "content": q}] for q in questions],
        add_generation_prompt=True,
        padding=True,
        return_tensors="pt",
        return_dict=True,
    )
    assert (batch["attention_mask"] == 0).any(), "the batch should need padding"
    torch.manual_seed(3)
    expected = model.generate(**batch, max_new_tokens=N_NEW, **setting)
    torch.manual_seed(3)
    ours = nb["generate_loop"](model, batch["input_ids"], N_NEW, attention_mask=batch["attention_mask"], **setting)
    assert torch.equal(ours, expected)


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


# --- sliding-window perplexity: token_nlls (section 6) -------------------------------------------------------------
# token_nlls returns one loss per scored token and that token's context length, but not which token it scored. The
# checks below recover that from the values: the k-th loss must equal the loss a separate forward pass gives the
# k-th expected token from exactly the context the function reports, so a token skipped, scored twice or scored from
# the wrong position shows up as a wrong count, a wrong context or a wrong value.

NLLS = "def token_nlls"
NLL_TOLERANCE = 1e-4  # float32: the same logits from sequences of different lengths agree to about 1e-6


def token_nlls_code(old=None, new=None):
    """The notebook's token_nlls and perplexity; with ``old``, a broken variant with ``old`` replaced by ``new``."""
    namespace = run_cells(NOTEBOOK, [NLLS], {"torch": torch, "math": math})
    if old is None:
        return namespace
    source = notebook_cell(NOTEBOOK, NLLS)
    assert old in source, f"the notebook no longer contains {old!r}: update the broken variant"
    exec(compile(source.replace(old, new), "18[token_nlls, broken]", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def nlls_code():
    return token_nlls_code()


@pytest.fixture(scope="module")
def tiny_lm():
    """A randomly initialised 2-layer Llama (SmolLM2's family): random weights give every token a distinct loss."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return LlamaForCausalLM(config).eval()


def expected_scoring(n, window, stride):
    """(token index, context length) of each token the sliding window should score, in order.

    Windows start at 0, stride, 2 * stride, ...; each token is scored by the first window that predicts it, from the
    tokens of that window before it. With stride < window that is every token but the first; with stride == window
    (naive chunks) the first token of every chunk has no context in its chunk and is not scored.
    """
    scored = []
    for j in range(1, n):
        begin = 0 if j < window else stride * ((j - window) // stride + 1)
        if begin < j:
            scored.append((j, j - begin))
    return scored


@torch.no_grad()
def scoring_errors(token_nlls, model, ids, window, stride):
    """What is wrong with token_nlls(model, ids, window, stride) (an empty list when nothing is)."""
    try:
        nlls, contexts = token_nlls(model, ids, window, stride)
    except Exception as error:  # a broken variant may also crash
        return [f"raised {type(error).__name__}: {error}"]
    expected = expected_scoring(len(ids), window, stride)
    if len(nlls) != len(expected) or len(contexts) != len(expected):
        return [f"{len(nlls)} losses and {len(contexts)} contexts for {len(expected)} tokens to score"]
    errors = []
    if contexts.tolist() != [context for _, context in expected]:
        errors.append(f"contexts {contexts.tolist()} instead of {[context for _, context in expected]}")
    for nll, (j, context) in zip(nlls.tolist(), expected):
        logits = model(ids[j - context : j][None]).logits[0, -1].float()
        direct = torch.nn.functional.cross_entropy(logits, ids[j]).item()
        if abs(nll - direct) > NLL_TOLERANCE:
            errors.append(f"token {j}: loss {nll:.5f}, but {direct:.5f} from its {context} tokens of context")
            break
    return errors


def random_ids(n, seed, vocab=97):
    return torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(seed))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), window=st.integers(2, 16), data=st.data(), seed=st.integers(0, 2**16))
def test_sliding_window_scores_every_token_once_with_the_context_it_reports(nlls_code, tiny_lm, n, window, data, seed):
    """stride < window: tokens 1 .. n-1 each scored exactly once, in order, each with >= window - stride tokens of
    context once past the first window, and each loss equal to a separate forward pass on that context."""
    stride = data.draw(st.integers(1, window - 1), label="stride")
    ids = random_ids(n, seed)
    expected = expected_scoring(n, window, stride)
    assert [j for j, _ in expected] == list(range(1, n))
    assert all(context >= min(j, window - stride) and context <= window - 1 for j, context in expected)
    assert scoring_errors(nlls_code["token_nlls"], tiny_lm, ids, window, stride) == []


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 40), window=st.integers(1, 16), seed=st.integers(0, 2**16))
def test_naive_chunks_skip_only_the_first_token_of_each_chunk(nlls_code, tiny_lm, n, window, seed):
    """stride == window (the notebook's naive chunks): every chunk scored on its own, its first token not at all."""
    expected = expected_scoring(n, window, window)
    assert [j for j, _ in expected] == [j for j in range(1, n) if j % window]
    assert scoring_errors(nlls_code["token_nlls"], tiny_lm, random_ids(n, seed), window, window) == []


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 40), extra=st.integers(0, 8), data=st.data(), seed=st.integers(0, 2**16))
def test_a_window_covering_the_text_equals_one_full_context_pass(nlls_code, tiny_lm, n, extra, data, seed):
    """window >= len(ids): whatever the stride, the losses are those of one forward pass over the whole text, and
    perplexity() is exp of the model's own mean loss."""
    window = n + extra
    stride = data.draw(st.integers(1, window), label="stride")
    ids = random_ids(n, seed)
    nlls, contexts = nlls_code["token_nlls"](tiny_lm, ids, window, stride)
    with torch.no_grad():
        full = tiny_lm(ids[None], labels=ids[None])
    by_position = torch.nn.functional.cross_entropy(full.logits[0, :-1].float(), ids[1:], reduction="none")
    assert torch.allclose(nlls, by_position, atol=1e-5)
    assert contexts.tolist() == list(range(1, n))
    assert nlls_code["perplexity"](tiny_lm, ids, window, stride) == pytest.approx(math.exp(full.loss.item()), rel=1e-5)


BROKEN_NLLS = {
    "keep one token too many (drops a token per window)": (
        "keep = max(scored_until - begin - 1, 0)",
        "keep = max(scored_until - begin, 0)",
    ),
    "keep one token too few (scores a token twice)": (
        "keep = max(scored_until - begin - 1, 0)",
        "keep = max(scored_until - begin - 2, 0)",
    ),
    "contexts off by one": ("torch.arange(keep + 1, end - begin)", "torch.arange(keep, end - begin - 1)"),
    "stride ignored (windows do not overlap)": ("range(0, len(ids) - 1, stride)", "range(0, len(ids) - 1, window)"),
    "logits not shifted (position i scored on token i)": ("logits[0, :-1]", "logits[0, 1:]"),
}
# texts, windows and strides (stride < window) the notebook's version passes and each broken variant fails on one of
# (keeping one token too few changes nothing when stride == window - 1)
NLL_CASES = [(40, 16, 8), (33, 10, 3), (25, 8, 7), (12, 6, 1)]


@pytest.mark.parametrize("broken", list(BROKEN_NLLS))
def test_a_broken_token_nlls_is_caught(nlls_code, tiny_lm, broken):
    """The checks can fail: plausible off-by-one variants of the notebook's token_nlls are each caught."""
    wrong = token_nlls_code(*BROKEN_NLLS[broken])["token_nlls"]
    caught = []
    for n, window, stride in NLL_CASES:
        ids = random_ids(n, seed=n)
        assert scoring_errors(nlls_code["token_nlls"], tiny_lm, ids, window, stride) == []
        caught.append(scoring_errors(wrong, tiny_lm, ids, window, stride) != [])
    assert any(caught), f"{broken!r} passed every case"


# --- the KV cache's memory (section 4), against the tensors at a long context ---------------------------------------

KV_CELL = "from_config = (config.num_hidden_layers"
KV_TABLE = "per_token = config.num_hidden_layers"


def smollm2_shaped(num_hidden_layers):
    """A random model with SmolLM2-135M's attention shapes (9 query heads, 3 KV heads of 64, 8,192 positions) but a
    tiny vocabulary and MLP: the cache depends only on layers, KV heads, head size, length and dtype."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=576,
        intermediate_size=32,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=9,
        num_key_value_heads=3,
        head_dim=64,
        max_position_embeddings=8192,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def cache_at_8192():
    """The notebook's own cell (it asserts formula == the cache tensors' bytes) run at SmolLM2's full 8,192-token
    context on one layer of SmolLM2's shape (about 4 s on one thread)."""
    model = smollm2_shaped(num_hidden_layers=1)
    long_prompt = torch.randint(0, 64, (1, 8192), generator=torch.Generator().manual_seed(0))
    return run_cells(
        NOTEBOOK, [KV_CELL], {"torch": torch, "model": model, "config": model.config, "long_prompt": long_prompt}
    )


def test_cache_memory_formula_equals_the_tensors_at_8192_tokens(cache_at_8192):
    assert cache_at_8192["length"] == 8192
    assert cache_at_8192["actual"] == cache_at_8192["from_config"] == 3 * 64 * 8192 * 4 * 2  # keys and values, fp32


def test_the_table_at_8192_tokens_is_30_layers_of_the_measured_cache(cache_at_8192):
    """The per-token bytes of the notebook's table, for SmolLM2's real config, times 8,192 = 30 layers of the cache
    measured above: the 360 MiB of the table (and 1,080 MiB with 9 KV heads: three times as many tensors)."""
    import pandas as pd
    from transformers import AutoConfig

    from utils import checkpoint

    try:
        config = AutoConfig.from_pretrained(checkpoint("smollm2"))
    except FileNotFoundError as error:
        pytest.skip(f"SmolLM2 is not in the asset home: {error}")
    table = run_cells(
        NOTEBOOK, [KV_TABLE], {"torch": torch, "pd": pd, "config": config, "model": cache_at_8192["model"]}
    )
    assert table["per_token"] * 8192 == config.num_hidden_layers * cache_at_8192["actual"]
    assert table["per_token"] * 8192 / 2**20 == 360.0
