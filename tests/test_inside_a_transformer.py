"""Notebook 17's hand-written transformer blocks give the same numbers as ``transformers``.

Every function under test is executed from the notebook cell that defines it (found by a marker string), so the
tests check the code learners read:
- ``attention`` against ``torch.nn.functional.scaled_dot_product_attention`` with random shapes and masks;
- ``decoder_forward`` (SmolLM2's blocks) against ``LlamaForCausalLM`` built from random small ``LlamaConfig`` s
  (grouped-query ratios, head sizes, RoPE bases, RMSNorm epsilons, tied and untied heads) and against the real
  SmolLM2 weights cut to 3 layers, on hypothesis-generated token ids and padded lengths: every hidden state and the
  logits, with the notebook's own ``compare`` and ``TOLERANCE``;
- ``encoder_forward`` (MiniLM's blocks) against ``BertModel`` from random small ``BertConfig`` s and the real
  all-MiniLM-L6-v2, with random token types and padding;
- the parameter counts against ``sum(p.numel())``;
- ``decoder_flops_per_token`` against torch's ``FlopCounterMode`` on random configs (the weights term = the linear
  layers' ``mm`` FLOPs, the attention term = eager attention's full T x T ``bmm`` FLOPs), and solution 2's
  ``kv_cache_bytes`` against the bytes of the library's cache (float32 and bfloat16, with and without GQA);
- the reason the notebook pads on the right: on a left-padded batch ``decoder_forward`` turns every real token of the
  padded row into NaN (pad rows with no allowed key, then 0 x NaN), on a right-padded one nothing.
Deliberately broken blocks (RoPE off, key/value heads shared in the wrong order, no causal mask, a wrong RMSNorm
epsilon, the tanh approximation of GELU) must fail the same comparison: the tolerance is tight enough to notice.
"""

import copy
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notebook_code import NOTEBOOKS, notebook_cell
from utils import checkpoint

NOTEBOOK = NOTEBOOKS / "17_inside_a_transformer.ipynb"
MARKERS = [
    "def attention(",
    "def split_heads(",
    "def layer_weights(",
    "def rms_norm(",
    "def rope_cos_sin(",
    "def gqa_attention(",
    "def swiglu_mlp(",
    "def decoder_layer(",
    "def decoder_forward(",
    "def compare(",
    "def layer_norm(",
    "def encoder_layer(",
    "def encoder_forward(",
    "def decoder_parameter_counts(",
]
REAL_SMOL_LAYERS = 3


def rebuild(marker=None, old=None, new=None):
    """The notebook's functions in a fresh namespace; with ``marker``, ``old`` is replaced by ``new`` in that cell."""
    namespace = {"math": math, "torch": torch, "F": F, "pd": pd}
    for cell_marker in MARKERS:
        source = notebook_cell(NOTEBOOK, cell_marker)
        if cell_marker == marker:
            assert old in source, f"the notebook no longer contains {old!r}: update the broken variant"
            source = source.replace(old, new)
        exec(compile(source, f"{NOTEBOOK.name}[{cell_marker}]", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def nb():
    return rebuild()


def right_padded(lengths, vocab_size, generator):
    """Random token ids for sequences of the given lengths, padded on the right (pad id 0), and their mask."""
    tokens = max(lengths)
    ids = torch.randint(0, vocab_size, (len(lengths), tokens), generator=generator)
    mask = (torch.arange(tokens)[None] < torch.tensor(lengths)[:, None]).long()
    return ids * mask, mask


def decoder_table(nb, model, ids, mask):
    """The notebook's comparison table of decoder_forward against the library model, hidden states and logits."""
    with torch.no_grad():
        library = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hidden, logits, _ = nb["decoder_forward"](ids, mask, model.state_dict(), model.config)
    labels = [f"hidden {i}" for i in range(len(hidden))] + ["logits"]
    assert len(hidden) == len(library.hidden_states) == model.config.num_hidden_layers + 1
    return nb["compare"](hidden + [logits], list(library.hidden_states) + [library.logits], mask, labels)


def encoder_table(nb, model, ids, mask, token_types):
    with torch.no_grad():
        library = model(input_ids=ids, attention_mask=mask, token_type_ids=token_types, output_hidden_states=True)
        hidden = nb["encoder_forward"](ids, mask, token_types, model.state_dict(), model.config)
    labels = [f"hidden {i}" for i in range(len(hidden))]
    return nb["compare"](hidden, library.hidden_states, mask, labels)


def assert_equal_within_tolerance(nb, table):
    assert (table["relative"] < nb["TOLERANCE"]).all(), table[table["relative"] >= nb["TOLERANCE"]]


# ---------------------------------------------------------------- attention


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 3),
    heads=st.integers(1, 4),
    tokens=st.integers(1, 12),
    size=st.sampled_from([1, 4, 8, 32]),
    masking=st.sampled_from(["none", "causal", "random"]),
    seed=st.integers(0, 2**16),
)
def test_attention_matches_torch_sdpa(nb, batch, heads, tokens, size, masking, seed):
    generator = torch.Generator().manual_seed(seed)
    q, k, v = torch.randn(3, batch, heads, tokens, size, generator=generator).unbind(0)
    mask = None
    if masking == "causal":
        mask = torch.tril(torch.ones(tokens, tokens, dtype=torch.bool))
    elif masking == "random":
        mask = torch.rand(batch, 1, tokens, tokens, generator=generator) < 0.6
        mask[..., 0] = True  # every query may attend to at least one key
    mine, weights = nb["attention"](q, k, v, mask)
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(mine, theirs, atol=1e-5)
    assert torch.allclose(weights.sum(dim=-1), torch.ones(()), atol=1e-5)
    if mask is not None:
        assert (weights[~mask.expand_as(weights)] == 0).all()


# ---------------------------------------------------------------- the decoder (SmolLM2's blocks)


@st.composite
def llama_configs(draw):
    from transformers import LlamaConfig

    kv_heads = draw(st.integers(1, 3))
    heads = kv_heads * draw(st.integers(1, 3))
    head_dim = draw(st.sampled_from([4, 8, 16]))
    return LlamaConfig(
        vocab_size=draw(st.integers(16, 200)),
        hidden_size=heads * head_dim,
        head_dim=head_dim,
        intermediate_size=draw(st.integers(8, 96)),
        num_hidden_layers=draw(st.integers(1, 3)),
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        rope_parameters={"rope_type": "default", "rope_theta": draw(st.sampled_from([1e4, 1e5, 5e5]))},
        rms_norm_eps=draw(st.sampled_from([1e-6, 1e-5, 1e-3])),
        tie_word_embeddings=draw(st.booleans()),
        pad_token_id=0,
        max_position_embeddings=64,
    )


def two_layer_config(vocab_size):
    """A 2-layer grouped-query Llama config (4 query heads, 2 key/value heads) with pad id 0, for the padding and
    cache tests."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        head_dim=8,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=0,
    )


def tiny_llama(config, seed):
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # random gains, so that a wrong norm cannot hide behind gains of exactly 1
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.uniform_(0.5, 1.5)
    return model


@settings(max_examples=15, deadline=None)
@given(config=llama_configs(), lengths=st.lists(st.integers(1, 20), min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_decoder_matches_llama_built_from_random_configs(nb, config, lengths, seed):
    model = tiny_llama(config, seed)
    ids, mask = right_padded(lengths, config.vocab_size, torch.Generator().manual_seed(seed))
    assert_equal_within_tolerance(nb, decoder_table(nb, model, ids, mask))


@settings(max_examples=25, deadline=None)
@given(config=llama_configs())
def test_decoder_parameter_counts_match_the_model(nb, config):
    counts = nb["decoder_parameter_counts"](config)
    model = tiny_llama(config, 0)
    assert sum(counts.values()) == sum(p.numel() for p in model.parameters())
    assert (counts["LM head"] == 0) == config.tie_word_embeddings


@pytest.fixture(scope="module")
def smol():
    """The real SmolLM2 weights, first layers only (the notebook checks all 30 layers)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(checkpoint("smollm2"), num_hidden_layers=REAL_SMOL_LAYERS).eval()


@pytest.fixture(scope="module")
def smol_batch(smol):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint("smollm2"))
    batch = tokenizer(
        ["The capital of France is", "Once upon a time, in a small village by the sea, there lived", "2 + 2 ="],
        padding=True,
        return_tensors="pt",
    )
    return batch["input_ids"], batch["attention_mask"]


def test_decoder_matches_real_smollm2_weights_on_a_padded_batch(nb, smol, smol_batch):
    table = decoder_table(nb, smol, *smol_batch)
    assert len(table) == REAL_SMOL_LAYERS + 2
    assert_equal_within_tolerance(nb, table)


@settings(max_examples=4, deadline=None)
@given(lengths=st.lists(st.integers(1, 24), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_decoder_matches_real_smollm2_weights_on_random_tokens(nb, smol, lengths, seed):
    ids, mask = right_padded(lengths, smol.config.vocab_size, torch.Generator().manual_seed(seed))
    assert_equal_within_tolerance(nb, decoder_table(nb, smol, ids, mask))


def test_attention_weights_match_the_library_eager_implementation(nb, smol_batch):
    from transformers import AutoModelForCausalLM

    eager = AutoModelForCausalLM.from_pretrained(
        checkpoint("smollm2"), num_hidden_layers=2, attn_implementation="eager"
    ).eval()
    ids, mask = smol_batch
    with torch.no_grad():
        theirs = eager(input_ids=ids, attention_mask=mask, output_attentions=True).attentions
        _, _, mine = nb["decoder_forward"](ids, mask, eager.state_dict(), eager.config)
    real = mask.bool()
    for a, b in zip(mine, theirs, strict=True):
        assert (a - b).abs().permute(0, 2, 1, 3)[real].max() < 1e-5  # rows of real query tokens


def wrong_eps(config):
    wrong = copy.deepcopy(config)
    wrong.rms_norm_eps = config.rms_norm_eps / 10
    return wrong


BROKEN_DECODERS = {
    "RoPE off": (
        "def rope_cos_sin(",
        "angles = position_ids[..., None].float() * inverse_frequencies",
        "angles = 0 * position_ids[..., None].float() * inverse_frequencies",
    ),
    "key/value heads shared in the wrong order": (
        "def gqa_attention(",
        "repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)",
        "repeat(1, group, 1, 1), v.repeat(1, group, 1, 1)",
    ),
    "no causal mask": ("def decoder_forward(", "mask = causal & attention_mask", "mask = attention_mask"),
    "RMSNorm without its gain": ("def rms_norm(", "return weight * (", "return ("),
}


@pytest.mark.parametrize("broken", list(BROKEN_DECODERS) + ["RMSNorm epsilon ten times too small"])
def test_a_broken_decoder_block_fails_the_comparison(smol, smol_batch, broken):
    if broken in BROKEN_DECODERS:
        nb_broken, config = rebuild(*BROKEN_DECODERS[broken]), smol.config
    else:
        nb_broken, config = rebuild(), wrong_eps(smol.config)
    ids, mask = smol_batch
    with torch.no_grad():
        library = smol(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hidden, logits, _ = nb_broken["decoder_forward"](ids, mask, smol.state_dict(), config)
    labels = [f"hidden {i}" for i in range(len(hidden))] + ["logits"]
    table = nb_broken["compare"](hidden + [logits], list(library.hidden_states) + [library.logits], mask, labels)
    assert (table["relative"] >= nb_broken["TOLERANCE"]).any(), f"{broken!r} went unnoticed:\n{table}"


# ---------------------------------------------------------------- the encoder (MiniLM's blocks)


@st.composite
def bert_configs(draw):
    from transformers import BertConfig

    heads = draw(st.integers(1, 4))
    return BertConfig(
        vocab_size=draw(st.integers(16, 200)),
        hidden_size=heads * draw(st.sampled_from([4, 8, 16])),
        num_hidden_layers=draw(st.integers(1, 3)),
        num_attention_heads=heads,
        intermediate_size=draw(st.integers(8, 96)),
        max_position_embeddings=32,
        type_vocab_size=draw(st.integers(1, 3)),
        layer_norm_eps=draw(st.sampled_from([1e-12, 1e-5])),
        pad_token_id=0,
    )


def tiny_bert(config, seed):
    from transformers import BertModel

    torch.manual_seed(seed)
    model = BertModel(config).eval()
    with torch.no_grad():  # random LayerNorm gains and biases: the init (1 and 0) would hide a missing one
        for name, parameter in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                parameter.uniform_(0.5, 1.5) if name.endswith("weight") else parameter.uniform_(-0.5, 0.5)
    return model


@settings(max_examples=15, deadline=None)
@given(config=bert_configs(), lengths=st.lists(st.integers(1, 20), min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_encoder_matches_bert_built_from_random_configs(nb, config, lengths, seed):
    model = tiny_bert(config, seed)
    generator = torch.Generator().manual_seed(seed)
    ids, mask = right_padded(lengths, config.vocab_size, generator)
    token_types = torch.randint(0, config.type_vocab_size, ids.shape, generator=generator)
    assert_equal_within_tolerance(nb, encoder_table(nb, model, ids, mask, token_types))


@pytest.fixture(scope="module")
def minilm():
    from transformers import AutoModel

    return AutoModel.from_pretrained(checkpoint("minilm")).eval()


@settings(max_examples=4, deadline=None)
@given(lengths=st.lists(st.integers(1, 32), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_encoder_matches_real_minilm_weights_on_random_tokens(nb, minilm, lengths, seed):
    generator = torch.Generator().manual_seed(seed)
    ids, mask = right_padded(lengths, minilm.config.vocab_size, generator)
    token_types = torch.randint(0, 2, ids.shape, generator=generator)
    table = encoder_table(nb, minilm, ids, mask, token_types)
    assert len(table) == minilm.config.num_hidden_layers + 1
    assert_equal_within_tolerance(nb, table)


BROKEN_ENCODERS = {
    "GELU, tanh approximation": (
        "def layer_norm(",
        "return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))",
        "return F.gelu(x, approximate='tanh')",
    ),
    "the last LayerNorm of each layer skipped": (
        "def encoder_layer(",
        'hidden = linear(gelu(linear(x, p, "intermediate.dense")), p, "output.dense")\n'
        "    return layer_norm(x + hidden,",
        'hidden = linear(gelu(linear(x, p, "intermediate.dense")), p, "output.dense")\n'
        "    return x + hidden + 0 * layer_norm(x + hidden,",
    ),
    "no padding mask": (
        "def encoder_forward(",
        "attention_mask.bool()[:, None, None, :]",
        "torch.ones_like(attention_mask).bool()[:, None, None, :]",
    ),
    "token types ignored": (
        "def encoder_forward(",
        '+ \\\n        e["token_type_embeddings.weight"][token_type_ids]',
        '+ \\\n        e["token_type_embeddings.weight"][0 * token_type_ids]',
    ),
}


@pytest.mark.parametrize("broken", BROKEN_ENCODERS)
def test_a_broken_encoder_block_fails_the_comparison(minilm, broken):
    nb_broken = rebuild(*BROKEN_ENCODERS[broken])
    ids, mask = right_padded([7, 12, 3], minilm.config.vocab_size, torch.Generator().manual_seed(0))
    token_types = (torch.arange(12) >= 5).long().expand(3, 12)
    table = encoder_table(nb_broken, minilm, ids, mask, token_types)
    assert (table["relative"] >= nb_broken["TOLERANCE"]).any(), f"{broken!r} went unnoticed:\n{table}"


def test_encoder_parameter_counts_match_real_and_random_models(nb, minilm):
    from transformers import BertConfig, BertModel

    for config in [
        minilm.config,
        BertConfig(
            vocab_size=50,
            hidden_size=8,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=12,
            max_position_embeddings=16,
            type_vocab_size=3,
        ),
    ]:
        model = minilm if config is minilm.config else BertModel(config)
        counts = nb["encoder_parameter_counts"](config)
        assert sum(counts.values()) == sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- counting: FLOPs and the KV cache (section 4)


def notebook_function(marker, stop, namespace):
    """Define the function of the cell containing ``marker`` (its source up to ``stop``) in ``namespace``."""
    source = notebook_cell(NOTEBOOK, marker).split(stop)[0]
    exec(compile(source, f"{NOTEBOOK.name}[{marker}]", "exec"), namespace)
    return namespace


@settings(max_examples=20, deadline=None)
@given(config=llama_configs(), tokens=st.integers(1, 48))
def test_flops_per_token_count_the_matrix_products_of_a_forward_pass(nb, config, tokens):
    """decoder_flops_per_token's two terms, times the tokens, are the FLOPs torch's FlopCounterMode counts: the weights
    term in the linear layers (``mm``, the head included even when tied), the full-matrix attention term in eager
    attention's ``QK^T`` and weights x V (``bmm``), which compute the whole T x T matrix; the causal term (the default)
    counts the t + 1 keys query t needs, (T + 1) / 2T of that."""
    from torch.utils.flop_counter import FlopCounterMode

    namespace = notebook_function("def decoder_flops_per_token(", "\n\n\n", {**nb})
    weights_term, attention_term = namespace["decoder_flops_per_token"](config, tokens, causal=False)
    causal_weights_term, causal_term = namespace["decoder_flops_per_token"](config, tokens)  # causal is the default
    assert causal_weights_term == weights_term
    assert causal_term * 2 * tokens == pytest.approx(attention_term * (tokens + 1))  # query t attends to t + 1 keys
    model = tiny_llama(config, 0)
    model.set_attn_implementation("eager")
    ids = torch.randint(0, config.vocab_size, (1, tokens), generator=torch.Generator().manual_seed(tokens))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(ids)
    counted = {str(op).split(".")[-1]: n for op, n in counter.get_flop_counts()["Global"].items()}
    assert counted["mm"] == tokens * weights_term
    assert counted["bmm"] == tokens * attention_term
    assert set(counted) == {"mm", "bmm"}


@settings(max_examples=20, deadline=None)
@given(
    config=llama_configs(),
    tokens=st.integers(1, 40),
    dtype=st.sampled_from([torch.float32, torch.bfloat16]),
    without_gqa=st.booleans(),
)
def test_kv_cache_bytes_equal_the_library_cache(nb, config, tokens, dtype, without_gqa):
    """Solution 2's kv_cache_bytes equals the bytes of the keys and values transformers caches, in float32 and
    bfloat16; with ``kv_heads`` = the query heads it gives the cache of the same model without grouped-query
    attention."""
    namespace = notebook_function("def kv_cache_bytes(", "\n\n\nfor label", {})
    model_config = copy.deepcopy(config)
    if without_gqa:
        model_config.num_key_value_heads = config.num_attention_heads
    model = tiny_llama(model_config, 0).to(dtype)
    ids = torch.randint(0, config.vocab_size, (1, tokens), generator=torch.Generator().manual_seed(tokens))
    with torch.no_grad():
        cache = model(ids, use_cache=True).cache
    measured = sum(t.nbytes for layer in cache.layers for t in (layer.keys, layer.values))
    bytes_per_number = torch.finfo(dtype).bits // 8
    kv_heads = config.num_attention_heads if without_gqa else None
    assert cache.get_seq_length() == tokens
    assert namespace["kv_cache_bytes"](config, tokens, bytes_per_number, kv_heads) == measured


# ---------------------------------------------------------------- why the notebook pads on the right


def test_left_padding_turns_real_tokens_into_nan_right_padding_does_not(nb):
    """With padding on the left, a pad query at position 0 may attend to no key (the causal rule allows only earlier
    keys, the padding mask forbids them): its softmax row is all -inf, its output NaN, and at the next layer every real
    token that multiplies that NaN value by a weight of 0 becomes NaN too. On the right, a pad query still sees the
    real tokens before it, and real queries never see the pads after them."""
    config = two_layer_config(vocab_size=50)
    model = tiny_llama(config, 0)
    ids = torch.randint(1, 50, (2, 6), generator=torch.Generator().manual_seed(0))
    left, right = torch.ones(2, 6, dtype=torch.long), torch.ones(2, 6, dtype=torch.long)
    left[1, :2], right[1, 4:] = 0, 0
    hidden_left, logits_left, _ = nb["decoder_forward"](ids, left, model.state_dict(), config)
    hidden_right, logits_right, _ = nb["decoder_forward"](ids, right, model.state_dict(), config)
    assert torch.isnan(hidden_left[1][1, :2]).all() and not torch.isnan(hidden_left[1][1, 2:]).any()  # pads only
    assert torch.isnan(logits_left[1, 2:]).all()  # then every real token of that row
    assert not torch.isnan(logits_left[0]).any()  # the unpadded row is untouched
    assert all(torch.isfinite(h).all() for h in hidden_right) and torch.isfinite(logits_right).all()


# ---------------------------------------------------------------- left padding and the hand-written KV cache


def cached_code(old=None, new=None):
    """The notebook's decoder_step and safe_attention (with ``old`` replaced by ``new``: a broken variant)."""
    namespace = rebuild()
    source = notebook_cell(NOTEBOOK, "def decoder_step(")
    if old is not None:
        assert old in source, f"the notebook no longer contains {old!r}: update the broken variant"
        source = source.replace(old, new)
    exec(compile(source, f"{NOTEBOOK.name}[decoder_step]", "exec"), namespace)
    return namespace


def left_padded(lengths, vocab_size, generator):
    """Random token ids for sequences of the given lengths, padded on the left (pad id 0), and their mask."""
    tokens = max(lengths)
    ids = torch.randint(1, vocab_size, (len(lengths), tokens), generator=generator)
    mask = (torch.arange(tokens)[None] >= tokens - torch.tensor(lengths)[:, None]).long()
    return ids * mask, mask


def library_logits(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).logits


def cache_errors(code, model, ids, mask, steps, generator):
    """Prefill then ``steps`` decode steps of one random token each: where do decoder_step's logits (real tokens only)
    differ from the library's full pass over everything so far, or turn NaN anywhere?"""
    weights, config = model.state_dict(), model.config
    errors = []
    with torch.no_grad():
        logits, cache = code["decoder_step"](ids, mask, weights, config)
        for step in range(steps + 1):
            if torch.isnan(logits).any():
                return [f"step {step}: NaN logits"]
            theirs = library_logits(model, ids, mask)[:, -logits.shape[1] :]
            real = mask[:, -logits.shape[1] :].bool()
            difference = (logits - theirs).abs().amax(-1) / theirs.abs().amax(-1)
            if difference[real].max() >= 1e-5:
                errors.append(f"step {step}: relative difference {difference[real].max():.1e}")
            if step == steps:
                break
            new = torch.randint(1, config.vocab_size, (len(ids), 1), generator=generator)
            ids, mask = torch.cat([ids, new], 1), torch.cat([mask, torch.ones_like(new)], 1)
            logits, cache = code["decoder_step"](new, mask, weights, config, cache)
        if [tuple(k.shape) for k, _ in cache] != [
            (len(ids), config.num_key_value_heads, ids.shape[1], config.head_dim)
        ] * len(cache):
            errors.append("cache of the wrong shape")
    return errors


@pytest.fixture(scope="module")
def cached():
    return cached_code()


@settings(max_examples=15, deadline=None)
@given(config=llama_configs(), lengths=st.lists(st.integers(1, 12), min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_prefill_and_decode_with_the_cache_equal_the_library_on_left_padding(cached, config, lengths, seed):
    """decoder_step on a left-padded batch: the prefill and every decode step (one new token, the cache appended) give
    the library's logits at every real token, and no NaN anywhere, pad rows included."""
    generator = torch.Generator().manual_seed(seed)
    model = tiny_llama(config, seed)
    ids, mask = left_padded(lengths, config.vocab_size, generator)
    assert cache_errors(cached, model, ids, mask, steps=3, generator=generator) == []


BROKEN_CACHES = {
    "forbidden scores at -inf (NaN from pad rows)": ("torch.finfo(scores.dtype).min", 'float("-inf")'),
    "padding mask dropped": ("mask = causal & attention_mask.bool()[:, None, None, :]", "mask = causal[None, None]"),
    "new token cannot see itself": ("tril(diagonal=past)", "tril(diagonal=past - 1)"),
    "cache not appended": ("k, v = torch.cat([cache[i][0], k], dim=2), torch.cat([cache[i][1], v], dim=2)", "pass"),
}


@pytest.mark.parametrize("broken", list(BROKEN_CACHES))
def test_a_broken_cache_is_caught(cached, broken):
    config = two_layer_config(vocab_size=60)
    model = tiny_llama(config, 1)
    ids, mask = left_padded([3, 7, 5], config.vocab_size, torch.Generator().manual_seed(1))
    assert cache_errors(cached, model, ids, mask, steps=2, generator=torch.Generator().manual_seed(2)) == []
    wrong = cached_code(*BROKEN_CACHES[broken])
    try:
        errors = cache_errors(wrong, model, ids, mask, steps=2, generator=torch.Generator().manual_seed(2))
    except RuntimeError as error:  # a cache that is not appended no longer fits the mask
        errors = [str(error)]
    assert errors != [], f"{broken!r} went unnoticed"


@settings(max_examples=10, deadline=None)
@given(
    config=llama_configs(),
    lengths=st.lists(st.integers(1, 10), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
    temperature=st.one_of(st.none(), st.floats(0.5, 1.5)),
)
def test_generate_by_hand_equals_generate_on_left_padding(cached, config, lengths, seed, temperature):
    """The notebook's generate_by_hand (prefill, then one decode step per token, finished rows continued with the pad
    token) equals model.generate token for token, greedy and seeded sampling, on a left-padded batch."""
    model = tiny_llama(config, seed)
    model.generation_config.eos_token_id, model.generation_config.pad_token_id = 3 % config.vocab_size, 0
    namespace = {**cached, "model": model, "weights": model.state_dict(), "config": config}
    namespace = notebook_function("def generate_by_hand(", "\n\nn_new", namespace)
    ids, mask = left_padded(lengths, config.vocab_size, torch.Generator().manual_seed(seed))
    batch = {"input_ids": ids, "attention_mask": mask}
    sampling = {} if temperature is None else {"do_sample": True, "temperature": temperature}
    torch.manual_seed(seed)
    ours = namespace["generate_by_hand"](batch, 6, **sampling)
    torch.manual_seed(seed)
    with torch.no_grad():
        theirs = model.generate(
            **batch, max_new_tokens=6, **({"do_sample": False} if temperature is None else {**sampling, "top_k": 0})
        )
    assert torch.equal(ours, theirs)


@settings(max_examples=10, deadline=None)
@given(config=llama_configs(), lengths=st.lists(st.integers(1, 10), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_utils_decoder_is_the_notebooks_decoder_step(cached, config, lengths, seed):
    """utils.decoder (which notebook 18 imports) gives exactly the notebook's logits and cache, prefill and decode."""
    from utils import decoder

    model = tiny_llama(config, seed)
    weights = model.state_dict()
    ids, mask = left_padded(lengths, config.vocab_size, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ours, ours_cache = cached["decoder_step"](ids, mask, weights, config)
        theirs, theirs_cache = decoder.decoder_step(ids, mask, weights, config)
        assert torch.equal(ours, theirs)
        new = ours[:, -1:].argmax(-1)
        mask = torch.cat([mask, torch.ones_like(new)], 1)
        ours, ours_cache = cached["decoder_step"](new, mask, weights, config, ours_cache)
        theirs, theirs_cache = decoder.decoder_step(new, mask, weights, config, theirs_cache)
    assert torch.equal(ours, theirs)
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(ours_cache, theirs_cache, strict=True))
    assert decoder.cache_bytes(theirs_cache) == sum(k.nbytes + v.nbytes for k, v in ours_cache)


def test_utils_decoder_rejects_a_mask_that_does_not_cover_the_cache(cached):
    from transformers import LlamaConfig

    from utils import decoder

    config = LlamaConfig(
        vocab_size=30,
        hidden_size=16,
        head_dim=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=32,
    )
    weights = tiny_llama(config, 0).state_dict()
    ids = torch.tensor([[5, 6, 7]])
    _, cache = decoder.decoder_step(ids, torch.ones_like(ids), weights, config)
    with pytest.raises(ValueError, match=r"has shape \(1, 1\), expected \(1, 4\): it must cover the cached tokens"):
        decoder.decoder_step(ids[:, :1], torch.ones(1, 1, dtype=torch.long), weights, config, cache)
