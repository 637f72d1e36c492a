"""Notebook 26's hooks: the logit lens, activation patching and steering, run from the notebook's own cells.

The functions under test are executed from the cells that define them (found by a marker string), on a tiny random
Llama (tied head, grouped-query attention, as SmolLM2) and, where the asset home has it, on the real SmolLM2:
- the logit lens at the last layer equals the model's logits, and ``residual_stream`` equals the library's
  ``output_hidden_states`` (whose last entry is already normed);
- patching the full clean activation restores the clean output exactly, at every layer; ``patching_grid`` (with the
  shared prefix's KV cache) restores everything when the differing tokens are patched at the embeddings or the last
  position at the last layer, and nothing where the two prompts are identical;
- hooks removed leave the model unchanged, also when the hooked run fails; the steering hook with a zero vector
  changes nothing and a non-zero one changes the logits.
Each check is also run on a broken copy of its cell (one line replaced), which must fail.
"""

import ast
import copy

import numpy as np
import pytest
import torch

from tests.notebook_code import NOTEBOOKS, notebook_cell
from utils import asset_home

NOTEBOOK = NOTEBOOKS / "26_looking_inside.ipynb"
SMOLLM2 = asset_home() / "models" / "SmolLM2-135M-Instruct"
needs_smollm2 = pytest.mark.skipif(not (SMOLLM2 / ".complete").is_file(), reason="SmolLM2 not in the asset home")


def define(marker, namespace, broken=()):
    """Execute only the top-level functions of the cell containing ``marker``, each ``(old, new)`` of ``broken``
    applied first (``old`` must occur once in the cell)."""
    source = notebook_cell(NOTEBOOK, marker)
    for old, new in broken:
        assert source.count(old) == 1, f"the cell {marker!r} changed: {old!r} is not in it once; update this variant"
        source = source.replace(old, new)
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.startswith("%")))
    tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    exec(compile(tree, f"{NOTEBOOK.name}[{marker}]", "exec"), namespace)
    return namespace


LENS, PATCH, GRID, STEER = "def residual_stream(", "def patch_hook(", "def patching_grid(", "def add_hook("
PREFIX_CELL = "def with_prefix("


def cells(broken=None, **namespace):
    """A namespace with the notebook's hook functions; ``broken`` maps a cell marker to its replaced lines."""
    broken = broken or {}
    namespace = {"torch": torch, "copy": copy, "np": np, **namespace}
    for marker in (LENS, PATCH, PREFIX_CELL, GRID, STEER):
        define(marker, namespace, broken.get(marker, ()))
    return namespace


def tiny_llama(seed=0, layers=3):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        initializer_range=0.2,
    )
    return LlamaForCausalLM(config).eval()


def token_batch(seed=1, batch=3, length=7):
    generator = torch.Generator().manual_seed(seed)
    return {"input_ids": torch.randint(0, 97, (batch, length), generator=generator)}


def all_hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# ---------------------------------------------------------------- the logit lens


def check_lens(ns, model, inputs):
    stream, logits = ns["residual_stream"](model, inputs)
    assert stream.shape[0] == model.config.num_hidden_layers + 1
    with torch.no_grad():
        torch.testing.assert_close(ns["logit_lens"](model, stream[-1]), logits, rtol=0, atol=1e-5)
        library = model(**inputs, output_hidden_states=True).hidden_states
        for layer in range(model.config.num_hidden_layers):
            torch.testing.assert_close(stream[layer], library[layer], rtol=0, atol=1e-6)
        torch.testing.assert_close(model.model.norm(stream[-1]), library[-1], rtol=0, atol=1e-6)


def test_lens_at_the_last_layer_is_the_models_logits():
    check_lens(cells(), tiny_llama(), token_batch())


@needs_smollm2
def test_lens_on_smollm2():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(SMOLLM2))
    model = AutoModelForCausalLM.from_pretrained(str(SMOLLM2), dtype=torch.float32).eval()
    check_lens(
        cells(),
        model,
        tokenizer(["The capital of France is", "Tokyo is the capital of"], return_tensors="pt", padding=True),
    )


LENS_BROKEN = {
    "no final norm": ("return model.lm_head(model.model.norm(residual))", "return model.lm_head(residual)"),
    "embeddings not hooked": (
        "modules = [model.model.embed_tokens, *model.model.layers]",
        "modules = [*model.model.layers]",
    ),
    "the final norm's output as the last layer": (
        "modules = [model.model.embed_tokens, *model.model.layers]",
        "modules = [model.model.embed_tokens, *model.model.layers[:-1], model.model.norm]",
    ),
}


@pytest.mark.parametrize("variant", list(LENS_BROKEN))
def test_broken_lens_is_caught(variant):
    with pytest.raises(AssertionError):
        check_lens(cells({LENS: [LENS_BROKEN[variant]]}), tiny_llama(), token_batch())


# ---------------------------------------------------------------- patching


def check_full_patch_restores(ns, model):
    """Patch every position of one layer with the clean run: the corrupted run must give the clean logits."""
    clean, corrupt = token_batch(seed=2, batch=1), token_batch(seed=3, batch=1)
    clean_stream, clean_logits = ns["residual_stream"](model, clean)
    modules = [model.model.embed_tokens, *model.model.layers]
    positions = list(range(clean["input_ids"].shape[1]))
    corrupt_logits = ns["run_with_hooks"](model, corrupt)
    assert (corrupt_logits - clean_logits[:, -1]).abs().max() > 1e-3  # the two runs differ to begin with
    for layer, module in enumerate(modules):
        hook = ns["patch_hook"]({0: positions}, clean_stream[layer, 0])
        patched = ns["run_with_hooks"](model, corrupt, [(module, hook)])
        torch.testing.assert_close(patched, clean_logits[:, -1], rtol=0, atol=1e-5)


def test_patching_the_full_clean_activation_restores_the_clean_output():
    check_full_patch_restores(cells(), tiny_llama())


PATCH_BROKEN = {
    "hook returns nothing": ("        return output\n    return hook", "        return None\n    return hook"),
    "patches from the wrong position": (
        "output[row, positions] = source[positions]",
        "output[row, positions] = source[positions].roll(1, 0)",
    ),
    "patches only the first row": (
        "for row, positions in patches.items():",
        "for row, positions in list(patches.items())[:0]:",
    ),
}


@pytest.mark.parametrize("variant", list(PATCH_BROKEN))
def test_broken_patching_is_caught(variant):
    with pytest.raises(AssertionError):
        check_full_patch_restores(cells({PATCH: [PATCH_BROKEN[variant]]}), tiny_llama())


def grid_namespace(broken=None):
    """The notebook's patching_grid on a tiny Llama: a shared prefix of 5 tokens, questions of 3 + 4 tokens."""
    model = tiny_llama(layers=2)
    prefix_ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        prefix_cache = model(prefix_ids, use_cache=True).past_key_values
    return cells(broken, model=model, prefix_cache=prefix_cache), model, prefix_ids


def check_grid(ns, model, prefix_ids):
    # questions: 3 "city" tokens that differ, then 4 shared tokens (" is the capital of")
    clean, corrupt = [11, 12, 13, 40, 41, 42, 43], [21, 22, 23, 40, 41, 42, 43]
    with torch.no_grad():
        full = model(torch.tensor([prefix_ids[0].tolist() + clean])).logits[0, -1]
        corrupt_full = model(torch.tensor([prefix_ids[0].tolist() + corrupt])).logits[0, -1]
    # answers: the clean run's top token, and the token whose logit falls most from clean to corrupted
    clean_answer, corrupt_answer = int(full.argmax()), int((corrupt_full - full).argmax())
    grid, gap = ns["patching_grid"](clean, corrupt, clean_answer, corrupt_answer)
    difference = lambda logits: (logits[clean_answer] - logits[corrupt_answer]).item()  # noqa: E731
    assert gap == pytest.approx(difference(full) - difference(corrupt_full), abs=1e-4)  # the cache changes nothing
    assert grid.shape == (model.config.num_hidden_layers + 1, 6)
    assert grid[0, 0] == pytest.approx(1, abs=1e-4)  # every differing token, at the embeddings: all restored
    assert grid[-1, -1] == pytest.approx(1, abs=1e-4)  # the last position after the last layer: all restored
    np.testing.assert_allclose(grid[0, 2:], 0, atol=1e-4)  # shared tokens at the embeddings: nothing changes


def test_patching_grid_restores_where_it_must():
    check_grid(*grid_namespace())


GRID_BROKEN = {
    "columns shifted by one": ("[n - 3], [n - 2], [n - 1]]", "[n - 4], [n - 3], [n - 2]]"),
    "layer rows swapped with columns": ("{layer * len(columns) + c: positions", "{c * len(modules) + layer: positions"),
    "prefix cache not copied": ("cache = copy.deepcopy(prefix_cache)", "cache = prefix_cache"),
}


@pytest.mark.parametrize("variant", list(GRID_BROKEN))
def test_broken_patching_grid_is_caught(variant):
    marker = PREFIX_CELL if variant == "prefix cache not copied" else GRID
    with pytest.raises((AssertionError, RuntimeError, IndexError)):
        check_grid(*grid_namespace({marker: [GRID_BROKEN[variant]]}))


# ---------------------------------------------------------------- hooks leave no trace


def check_hooks_removed(ns, model):
    inputs = token_batch()
    with torch.no_grad():
        before = model(**inputs).logits
        model(**inputs, output_hidden_states=True)
    hooks_before = all_hooks(model)  # transformers installs its own output-capturing hooks: count ours only
    ns["residual_stream"](model, inputs)
    stream, _ = ns["residual_stream"](model, inputs)
    ns["run_with_hooks"](model, inputs, [(model.model.layers[0], ns["add_hook"](torch.ones(32)))])
    ns["run_with_hooks"](model, inputs, [(model.model.layers[1], ns["patch_hook"]({0: [0, 1]}, stream[2, 1]))])
    with pytest.raises(RuntimeError):  # a run that fails inside must still remove its hooks
        ns["run_with_hooks"](
            model, {"input_ids": inputs["input_ids"].float()}, [(model.model.layers[0], ns["add_hook"](torch.ones(32)))]
        )
    assert all_hooks(model) == hooks_before
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, before)


def test_hooks_removed_leave_the_model_unchanged():
    check_hooks_removed(cells(), tiny_llama())


HOOKS_BROKEN = {
    "residual_stream keeps its hooks": (LENS, ("            handle.remove()", "            pass")),
    "run_with_hooks keeps its hooks": (PATCH, ("            handle.remove()", "            pass")),
}


@pytest.mark.parametrize("variant", list(HOOKS_BROKEN))
def test_broken_hook_removal_is_caught(variant):
    marker, replacement = HOOKS_BROKEN[variant]
    with pytest.raises(AssertionError):
        check_hooks_removed(cells({marker: [replacement]}), tiny_llama())


def test_steering_hook_adds_exactly_its_vector():
    ns, model = cells(), tiny_llama()
    inputs = token_batch()
    plain = ns["run_with_hooks"](model, inputs)
    torch.testing.assert_close(
        ns["run_with_hooks"](model, inputs, [(model.model.layers[1], ns["add_hook"](torch.zeros(32)))]),
        plain,
        rtol=0,
        atol=0,
    )
    vector = torch.randn(32, generator=torch.Generator().manual_seed(0))
    stream, _ = ns["residual_stream"](model, inputs)
    # adding v at layer 1's output is the same as patching in layer 1's output + v at every position
    patched = ns["run_with_hooks"](
        model,
        inputs,
        [(model.model.layers[1], ns["patch_hook"]({r: list(range(7)) for r in range(1)}, stream[2, 0] + vector))],
    )
    steered = ns["run_with_hooks"](model, inputs, [(model.model.layers[1], ns["add_hook"](vector))])
    torch.testing.assert_close(steered[0], patched[0], rtol=0, atol=1e-5)
    assert (steered - plain).abs().max() > 1e-3
