"""Notebook 24's roofline arithmetic, int8 weight-only layer, speculative decoding and streaming endpoint.

The functions are executed from the notebook cells that define them (found by a marker string), so the tests check
what learners read:
- roofline: ``decode_roofline`` on hand numbers (memory-bound below the ridge, compute-bound above it) and
  ``weight_bytes`` against counts written out from a tiny Llama's config (tied and untied head, int8 layers);
- ``Int8Linear``: per-row int8 weights within 1% of float32, both kernels, and the fused kernel equal to the readable one;
- speculative decoding: ``lookup_draft`` on hand cases; ``speculative_greedy`` gives exactly plain greedy decoding's
  tokens (and the library's prompt lookup gives them too) on a tiny random Llama, with drafts actually accepted;
- the endpoint: ``make_server`` + ``stream_from`` stream the same text as ``generate`` (tiny random Llama with
  SmolLM2's tokenizer and chat template), in more than one chunk.
Each check also runs on broken copies of its cell (one line replaced), which must fail. No real model is loaded.
"""

import ast
import codecs
import copy
import http.client
import json
import math
import socket
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import NetworkBlocked
from tests.notebook_code import NOTEBOOKS, notebook_cell
from utils import asset_home

NOTEBOOK = NOTEBOOKS / "24_serving_on_a_cpu.ipynb"
SMOLLM2 = asset_home() / "models" / "SmolLM2-135M-Instruct"
needs_smollm2 = pytest.mark.skipif(not (SMOLLM2 / ".complete").is_file(), reason="SmolLM2 not in the asset home")


def cell_source(marker, broken=()):
    """The cell containing ``marker``, with each ``(old, new)`` of ``broken`` applied (``old`` must occur once)."""
    source = notebook_cell(NOTEBOOK, marker)
    for old, new in broken:
        assert source.count(old) == 1, f"the cell {marker!r} changed: {old!r} is not in it once; update this variant"
        source = source.replace(old, new)
    return source


def define(marker, broken=(), namespace=None):
    """A namespace with the cell's top-level functions and classes only (the rest of the cell runs the lesson)."""
    namespace = {} if namespace is None else namespace
    namespace.update(
        {
            "torch": torch,
            "F": F,
            "copy": copy,
            "json": json,
            "math": math,
            "time": time,
            "threading": threading,
            "codecs": codecs,
            "http": http,
            "statistics": statistics,
            "BaseHTTPRequestHandler": BaseHTTPRequestHandler,
            "ThreadingHTTPServer": ThreadingHTTPServer,
        }
    )
    tree = ast.parse(cell_source(marker, broken))
    tree.body = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    exec(compile(tree, f"{NOTEBOOK.name}[{marker}]", "exec"), namespace)
    return namespace


def tiny_llama(vocab_size=64, tied=True, seed=0, eos_token_id=1, pad_token_id=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=tied,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        bos_token_id=None,
        initializer_range=0.1,
    )
    return LlamaForCausalLM(config).eval()


# ---------------------------------------------------------------- roofline arithmetic

ROOFLINE = "def decode_roofline("
ROOFLINE_BROKEN = {
    "no sharing across the batch": [("memory_bound = batch * bandwidth", "memory_bound = bandwidth")],
    "one FLOP per parameter": [("peak_flops / (2 * n_params)", "peak_flops / n_params")],
    "bits, not bytes": [("batch * bandwidth / weight_bytes", "batch * bandwidth / (8 * weight_bytes)")],
}


def check_roofline(ns):
    roof = ns["decode_roofline"]
    # 20 GB/s over 500 MB of weights: 40 tokens/s for one stream; 100 GFLOP/s over 2 x 125M FLOPs: 400 tokens/s
    assert roof(1, 20e9, 500e6, 100e9, 125e6) == pytest.approx(40.0)
    assert roof(4, 20e9, 500e6, 100e9, 125e6) == pytest.approx(160.0)
    assert roof(10, 20e9, 500e6, 100e9, 125e6) == pytest.approx(400.0)  # the ridge: both limits meet
    assert roof(32, 20e9, 500e6, 100e9, 125e6) == pytest.approx(400.0)  # compute-bound: flat
    assert roof(1, 20e9, 250e6, 100e9, 125e6) == pytest.approx(80.0)  # half the bytes, twice the limit


def test_roofline_arithmetic():
    check_roofline(define(ROOFLINE))


@pytest.mark.parametrize("variant", list(ROOFLINE_BROKEN))
def test_roofline_arithmetic_catches_broken_variants(variant):
    with pytest.raises(AssertionError):
        check_roofline(define(ROOFLINE, ROOFLINE_BROKEN[variant]))


def expected_bytes(config, bytes_per_weight, scale_bytes=0, tied=True):
    """Bytes a decode step reads, written out from the config: linear weights, norms (float32), the head."""
    d, m, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    kv = config.num_key_value_heads * (d // config.num_attention_heads)
    linear_shapes = [(d, d), (kv, d), (kv, d), (d, d), (m, d), (m, d), (d, m)] * layers + [(config.vocab_size, d)]
    weights = sum(rows * cols for rows, cols in linear_shapes) * bytes_per_weight
    scales = sum(rows for rows, _ in linear_shapes) * scale_bytes
    norms = (2 * layers + 1) * d * 4
    return weights + scales + norms


WEIGHTS_BROKEN = {
    "embedding counted": [("            continue\n        total", "            pass\n        total")],
    "float linear layers only": [
        ("if isinstance(module, torch.nn.Embedding):", "if not isinstance(module, torch.nn.Linear):")
    ],
}


def check_weight_bytes(ns):
    tied, untied = tiny_llama(tied=True), tiny_llama(tied=False)
    assert ns["weight_bytes"](tied) == expected_bytes(tied.config, 4)
    assert ns["weight_bytes"](untied) == expected_bytes(untied.config, 4)
    # the lm_head must be a separate module for the tied check to mean something
    assert tied.lm_head.weight is tied.model.embed_tokens.weight
    int8 = ns["int8_weight_only"](untied, fused=False)
    assert ns["weight_bytes"](int8) == expected_bytes(untied.config, 1, scale_bytes=4)


def int8_namespace(broken_weights=()):
    ns = define("def weight_bytes(", broken_weights)
    return define("class Int8Linear(", namespace=ns)


def test_weight_bytes_counts_what_a_decode_step_reads():
    check_weight_bytes(int8_namespace())


@pytest.mark.parametrize("variant", list(WEIGHTS_BROKEN))
def test_weight_bytes_catches_broken_variants(variant):
    with pytest.raises(AssertionError):
        check_weight_bytes(int8_namespace(WEIGHTS_BROKEN[variant]))


# ---------------------------------------------------------------- int8 weight-only layer

INT8_BROKEN = {
    "255 levels in an int8": [("amax(dim=1).clamp(min=1e-12) / 127", "amax(dim=1).clamp(min=1e-12) / 255")],
    "one scale per matrix": [("weight.abs().amax(dim=1)", "weight.abs().amax().expand(weight.shape[0])")],
}


def check_int8(ns):
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48, bias=False)
    with torch.no_grad():
        linear.weight[0] *= 50  # one row with large weights: a per-matrix scale would crush the others
    x = torch.randn(3, 5, 64)
    exact = linear(x)
    readable = ns["Int8Linear"](linear, fused=False)(x)
    fused = ns["Int8Linear"](linear, fused=True)(x.to(torch.bfloat16)).float()
    assert readable.shape == fused.shape == exact.shape
    for row in range(1, 48):  # every output row within 1% of float32
        error = (readable[..., row] - exact[..., row]).norm() / exact[..., row].norm()
        assert error < 0.01, (row, error)
    torch.testing.assert_close(fused, readable, atol=0.05, rtol=0.02)  # bfloat16 activations: a looser match


def test_int8_weight_only_layer():
    check_int8(define("class Int8Linear("))


@pytest.mark.parametrize("variant", list(INT8_BROKEN))
def test_int8_weight_only_layer_catches_broken_variants(variant):
    with pytest.raises(AssertionError):
        check_int8(define("class Int8Linear(", INT8_BROKEN[variant]))


# ---------------------------------------------------------------- speculative decoding

SPEC = "def speculative_greedy("
SPEC_BROKEN = {
    "draft accepted unchecked": [("while n < len(draft) and draft[n] == choices[n] and", "while n < len(draft) and")],
    "model's own token dropped": [
        ("ids += draft[:n] + [choices[n]]", "ids += draft[:n] + draft[n:n + 1] or [choices[n]]")
    ],
    "checked against the wrong position": [("logits[0, len(ids) - 1:]", "logits[0, len(ids):]")],
}


def test_lookup_draft_hand_cases():
    lookup = define(SPEC)["lookup_draft"]
    assert lookup([5, 6, 7, 8, 9, 5, 6], num_tokens=3) == [7, 8, 9]  # the bigram 5 6 seen before
    assert lookup([5, 6, 7, 5, 6, 9, 5, 6], num_tokens=2) == [9, 5]  # the most recent occurrence wins
    assert lookup([1, 2, 3, 9, 3], num_tokens=2) == [9, 3]  # no bigram match: fall back to one token
    assert lookup([1, 2, 3, 4]) == []  # nothing to copy


def spec_prompts():
    generator = torch.Generator().manual_seed(1)
    prompts = []
    for _ in range(4):
        chunk = torch.randint(2, 64, (6,), generator=generator).tolist()
        prompts.append(chunk + torch.randint(2, 64, (4,), generator=generator).tolist() + chunk)  # a repeat to copy
    return prompts


def check_speculative(ns, model, max_new_tokens=20):
    accepted = 0
    for prompt in spec_prompts():
        ids = torch.tensor([prompt])
        plain = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False
        )[0, len(prompt) :].tolist()
        ours, stats = ns["speculative_greedy"](model, prompt, max_new_tokens)
        assert ours == plain, (ours, plain)
        assert stats["passes"] <= len(ours) and 0 <= stats["accepted"] <= stats["proposed"]
        assert stats["accepted"] + stats["passes"] == len(ours)  # each pass: the accepted drafts + one own token
        accepted += stats["accepted"]
    assert accepted > 0, "no draft token was ever accepted: the check did not exercise speculation"


@pytest.fixture(scope="module")
def spec_model():
    return tiny_llama(eos_token_id=1)


def test_speculative_greedy_equals_plain_greedy(spec_model):
    check_speculative(define(SPEC), spec_model)


def test_library_prompt_lookup_equals_plain_greedy(spec_model):
    for prompt in spec_prompts():
        ids = torch.tensor([prompt])
        kwargs = dict(attention_mask=torch.ones_like(ids), max_new_tokens=20, do_sample=False)
        plain = spec_model.generate(ids, **kwargs)
        assert torch.equal(spec_model.generate(ids, prompt_lookup_num_tokens=10, **kwargs), plain)


@pytest.mark.parametrize("variant", list(SPEC_BROKEN))
def test_speculative_greedy_catches_broken_variants(spec_model, variant):
    with pytest.raises((AssertionError, IndexError)):
        check_speculative(define(SPEC, SPEC_BROKEN[variant]), spec_model)


def test_speculative_greedy_stops_at_end_of_sequence():
    # A model biased towards token 3, declared end of sequence: the reply stops there, as generate's does.
    model = tiny_llama(eos_token_id=3)
    with torch.no_grad():
        model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.clone())
        model.lm_head.weight[3] += 0.5 * model.lm_head.weight.abs().max()
    prompt = spec_prompts()[0]
    ids = torch.tensor([prompt])
    plain = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=20, do_sample=False)
    ours, _ = define(SPEC)["speculative_greedy"](model, prompt, 20)
    assert ours == plain[0, len(prompt) :].tolist() and ours[-1] == 3 and len(ours) < 20


# ---------------------------------------------------------------- the streaming endpoint


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """tests/conftest.py's guard, with loopback allowed: the endpoint under test listens on 127.0.0.1 only."""
    real_connect, real_create_connection = socket.socket.connect, socket.create_connection

    def guarded_connect(self, address):
        if self.family == getattr(socket, "AF_UNIX", None) or address[0] == "127.0.0.1":
            return real_connect(self, address)
        raise NetworkBlocked(f"network access attempted in a unit test: {address!r}")

    def guarded_create_connection(address, *args, **kwargs):
        if address[0] == "127.0.0.1":
            return real_create_connection(address, *args, **kwargs)
        raise NetworkBlocked(f"network access attempted in a unit test: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)
    yield


def test_only_loopback_is_allowed():
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("192.0.2.1", 80), timeout=1)


ENDPOINT = "def make_server("
ENDPOINT_BROKEN = {
    "prompt echoed": [
        ("TextIteratorStreamer(tokenizer, skip_prompt=True,", "TextIteratorStreamer(tokenizer, skip_prompt=False,")
    ],
    "sampling, not greedy": [("streamer=streamer, do_sample=False,", "streamer=streamer, do_sample=True, top_k=0,")],
}


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(SMOLLM2), padding_side="left")


def check_endpoint(ns, tokenizer):
    from transformers import TextIteratorStreamer

    ns["TextIteratorStreamer"] = TextIteratorStreamer
    model = tiny_llama(
        vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    server = ns["make_server"](model, tokenizer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for prompt in ("Name three uses of a paperclip.", "Ça va ? Écris « bonjour » en japonais : 日本"):
            received = ns["stream_from"](server.server_address[1], prompt, 24)
            chat = tokenizer(
                tokenizer.apply_chat_template(
                    [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
                ),
                return_tensors="pt",
            )
            torch.manual_seed(0)
            out = model.generate(**chat, max_new_tokens=24, do_sample=False)
            direct = tokenizer.decode(out[0, chat.input_ids.shape[1] :], skip_special_tokens=True)
            assert "".join(piece for _, piece in received) == direct
            assert len(received) > 1, "the reply came in one piece: not streamed"
            times = [t for t, _ in received]
            assert times == sorted(times)
    finally:
        server.shutdown()
        server.server_close()


@needs_smollm2
def test_endpoint_streams_the_same_text_as_generate(tokenizer):
    check_endpoint(define(ENDPOINT), tokenizer)


@needs_smollm2
@pytest.mark.parametrize("variant", list(ENDPOINT_BROKEN))
def test_endpoint_catches_broken_variants(tokenizer, variant):
    with pytest.raises(AssertionError):
        check_endpoint(define(ENDPOINT, ENDPOINT_BROKEN[variant]), tokenizer)


# ---------------------------------------------------------------- torch.compile benchmark (utils/compile_benchmark.py)

SUMMARISE_BROKEN = {
    "compile time without the eager run subtracted": [("first_call_s - eager_call_s, 0.0", "first_call_s, 0.0")],
    "speed-up inverted": [('"speedup": eager_tpot_s / compiled_tpot_s', '"speedup": compiled_tpot_s / eager_tpot_s')],
    "break-even over the eager step": [("compile_s / saved_per_token", "compile_s / eager_tpot_s")],
}


def summarise_function(broken=()):
    import inspect
    import textwrap

    from utils import compile_benchmark

    source = textwrap.dedent(inspect.getsource(compile_benchmark.summarise))
    for old, new in broken:
        assert source.count(old) == 1, f"summarise changed: {old!r} is not in it once; update this variant"
        source = source.replace(old, new)
    namespace = {}
    exec(source, namespace)
    return namespace["summarise"]


def check_summarise(summarise):
    faster = summarise(eager_tpot_s=0.1, compiled_tpot_s=0.08, first_call_s=30.0, eager_call_s=4.0)
    assert faster["compile_s"] == pytest.approx(26.0)
    assert faster["speedup"] == pytest.approx(1.25)
    assert faster["break_even_tokens"] == pytest.approx(1300.0)
    slower = summarise(eager_tpot_s=0.1, compiled_tpot_s=0.12, first_call_s=30.0, eager_call_s=4.0)
    assert slower["break_even_tokens"] is None and slower["speedup"] < 1


def test_compile_summary_arithmetic():
    check_summarise(summarise_function())


@pytest.mark.parametrize("variant", list(SUMMARISE_BROKEN))
def test_compile_summary_catches_broken_variants(variant):
    with pytest.raises(AssertionError):
        check_summarise(summarise_function(SUMMARISE_BROKEN[variant]))


@pytest.mark.parametrize("cache", ["static", "dynamic"])
def test_compile_benchmark_measures_a_tiny_model(cache):
    """The whole measurement on a tiny Llama, traced with the eager backend (seconds, not minutes of inductor)."""
    from utils.compile_benchmark import measure

    model = tiny_llama()
    inputs = {"input_ids": torch.tensor([[5, 6, 7, 8, 9]]), "attention_mask": torch.ones(1, 5, dtype=torch.long)}
    result = measure(model, inputs, new_tokens=4, repeats=1, cache=cache, backend="eager")
    assert result["same_tokens"], "the compiled model decoded other greedy tokens"
    assert result["prompt_tokens"] == 5 and result["new_tokens"] == 4 and result["cache"] == cache
    assert result["eager_tpot_s"] > 0 and result["compiled_tpot_s"] > 0 and result["compile_s"] >= 0
    assert hasattr(model.forward, "_torchdynamo_orig_callable") or "compile" in repr(model.forward).lower()


def test_compile_benchmark_refuses_an_unknown_cache():
    from utils.compile_benchmark import measure

    with pytest.raises(ValueError, match="cache must be 'static' or 'dynamic', got 'paged'"):
        measure(tiny_llama(), {"input_ids": torch.tensor([[5, 6]])}, cache="paged")


@needs_smollm2
def test_compile_benchmark_command_writes_its_result(tmp_path, monkeypatch, tokenizer, capsys):
    from transformers import LlamaForCausalLM

    from tests.tiny_models import tiny_llama_config
    from utils import compile_benchmark

    folder = tmp_path / "tiny"
    torch.manual_seed(0)
    LlamaForCausalLM(tiny_llama_config(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    monkeypatch.setenv("LLM_RETREAT_HOME", str(tmp_path / "home"))
    args = [str(folder), "--new-tokens", "3", "--repeats", "1", "--backend", "eager"]
    assert compile_benchmark.main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "home" / "runs" / "24" / "compile-static.json").read_text())
    assert printed == saved
    assert saved["same_tokens"] and saved["new_tokens"] == 3 and saved["machine"]["threads"] >= 1
    assert saved["command"].startswith("python -m utils.compile_benchmark ") and "--backend eager" in saved["command"]


# ---------------------------------------------------------------- the decode step, profiled; greedy agreement

PROFILE = "def profile_decode("
PROFILE_BROKEN = {
    "cache dropped": [("attention_mask=mask, cache=cache,", "attention_mask=mask, cache=None,")],
    "products timed per run, not per step": [("sum(linear_seconds) / steps", "sum(linear_seconds)")],
}


def check_profile(ns):
    model = tiny_llama(vocab_size=64, seed=1)
    inputs = {"input_ids": torch.tensor([[5, 9, 14, 3, 22, 7]]), "attention_mask": torch.ones(1, 6, dtype=torch.long)}
    step, products, tokens = ns["profile_decode"](model, inputs, 40)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=41, min_new_tokens=41, do_sample=False, pad_token_id=0)
    assert tokens[0].tolist() == out[0, 6:].tolist(), "the loop written out does not decode what generate decodes"
    assert 0 < products < step, (products, step)


def test_profile_decode_splits_one_run():
    check_profile(define(PROFILE))


@pytest.mark.parametrize("variant", list(PROFILE_BROKEN))
def test_profile_decode_catches_broken_variants(variant):
    with pytest.raises(AssertionError):
        check_profile(define(PROFILE, PROFILE_BROKEN[variant]))


SAME_PREFIX = "def same_prefix("
SAME_PREFIX_BROKEN = {
    "matches after the first difference counted": [
        ("return int(differ[0, 0]) if len(differ) else len(reference)", "return int((tokens == reference).sum())")
    ],
    "one too many": [("int(differ[0, 0])", "int(differ[0, 0]) + 1")],
}


def check_same_prefix(same_prefix):
    reference = torch.tensor([1, 2, 3, 4, 5, 6])
    assert same_prefix(torch.tensor([1, 2, 3, 4, 5, 6]), reference) == 6
    assert same_prefix(torch.tensor([1, 2, 9, 4, 5, 6]), reference) == 2  # 4, 5, 6 agree again: not counted
    assert same_prefix(torch.tensor([7, 2, 3, 4, 5, 6]), reference) == 0


def test_same_prefix_counts_tokens_before_the_first_difference():
    check_same_prefix(define(SAME_PREFIX)["same_prefix"])


@pytest.mark.parametrize("variant", list(SAME_PREFIX_BROKEN))
def test_same_prefix_catches_broken_variants(variant):
    with pytest.raises(AssertionError):
        check_same_prefix(define(SAME_PREFIX, SAME_PREFIX_BROKEN[variant])["same_prefix"])


# ---------------------------------------------------------------- drafted and accepted tokens of the library's lookup

COUNTS = "def draft_counts("
COUNTS_BROKEN = {
    "the first pass's draft left out": [("proposed = fed[0] - prompt_length + sum(", "proposed = sum(")],
    "the model's own token counted as accepted": [
        ("return proposed, new_tokens - len(fed)", "return proposed, new_tokens")
    ],
}


def check_draft_counts(ns, model, monkeypatch):
    """Against the candidates the library's prompt lookup really proposed (recorded from its candidate generator)."""
    from transformers.generation import candidate_generator

    drafted = []
    original = candidate_generator.PromptLookupCandidateGenerator.get_candidates

    def recording(self, input_ids, *args, **kwargs):
        candidates, logits = original(self, input_ids, *args, **kwargs)
        drafted.append(candidates.shape[1] - input_ids.shape[1])
        return candidates, logits

    monkeypatch.setattr(candidate_generator.PromptLookupCandidateGenerator, "get_candidates", recording)
    fed, handle = ns["count_passes"](model)
    seen_draft = False
    try:
        for prompt in spec_prompts():
            fed.clear()
            drafted.clear()
            ids = torch.tensor([prompt])
            out = model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=16, do_sample=False, prompt_lookup_num_tokens=4
            )
            new = out.shape[1] - len(prompt)
            proposed, accepted = ns["draft_counts"](fed, len(prompt), new)
            assert proposed == sum(drafted), (fed, drafted)
            assert 0 <= accepted <= proposed and accepted + len(fed) == new
            seen_draft |= drafted[0] > 0
    finally:
        handle.remove()
    assert seen_draft, "no first-pass draft in these prompts: the check would not see the first pass"


def test_draft_counts_match_the_library(spec_model, monkeypatch):
    check_draft_counts(define(COUNTS), spec_model, monkeypatch)


@pytest.mark.parametrize("variant", list(COUNTS_BROKEN))
def test_draft_counts_catch_broken_variants(spec_model, monkeypatch, variant):
    with pytest.raises(AssertionError):
        check_draft_counts(define(COUNTS, COUNTS_BROKEN[variant]), spec_model, monkeypatch)
