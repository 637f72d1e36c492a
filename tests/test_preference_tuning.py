"""Notebook 23's DPO pieces: the prompt mask, the batch layout, the sequence log-probabilities and the loss.

The functions are executed from the notebook cells that define them (found by a marker string), so the tests check
what learners read:
- loss: ``dpo_loss`` equal to TRL 1.16's ``DPOTrainer._compute_loss`` (the installed code, called with a stub trainer
  whose model returns given per-token log-probabilities) on random log-probabilities (hypothesis), with the logged
  ``rewards/chosen``, ``rewards/rejected``, ``rewards/margins`` and ``rewards/accuracies``; log 2 at the reference;
  blind to a shift of both sides (the displacement of section 6);
- prompt mask: ``sequence_logps`` equal to a sum written out here over the completion tokens only; unchanged when the
  prompt's logits change, changed when the completion's do;
- batch layout: ``collate_pairs`` equal to TRL's ``DataCollatorForPreference`` on random token ids;
- tokenization: ``tokenize_pair`` equal to TRL's own dataset preparation with SmolLM2's chat template, on random
  texts (the prompt/completion boundary, where the mask starts);
- pairs: ``make_pair`` takes the first right reply as chosen (else the gold answer), a wrong one as rejected, and no
  pair when every reply is right; ``sample_replies`` (the prompt run once, its cache copied) gives the greedy replies
  of ``generate()`` and samples what ``generate(num_return_sequences=n)`` samples from the same seed (a tiny random
  model).
Each check is also run on broken copies of the cells (the reference term dropped, the sign flipped, the prompt left
in the sum, the mask shifted the wrong way, chosen and rejected swapped, a wrong reply chosen, the prompt's cache
misaligned), which must fail. No trained model is loaded.
"""

import ast
import collections
import math
import types

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notebook_code import NOTEBOOKS, notebook_cell
from utils import asset_home

NOTEBOOK = NOTEBOOKS / "23_preference_tuning.ipynb"
LOSS_CELL, BATCH_CELL = "def sequence_logps(", "def token_ids("


def cell_source(marker, broken=()):
    """The cell containing ``marker``, with each ``(old, new)`` of ``broken`` applied (``old`` must occur once)."""
    source = notebook_cell(NOTEBOOK, marker)
    for old, new in broken:
        assert source.count(old) == 1, f"the cell {marker!r} changed: {old!r} is not in it once; update this variant"
        source = source.replace(old, new)
    return source


def define(marker, broken=(), namespace=None):
    """The top-level functions of the cell (the rest of a cell runs the lesson), in a fresh namespace."""
    namespace = {"torch": torch, "F": F} if namespace is None else namespace
    tree = ast.parse(cell_source(marker, broken))
    tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    exec(compile(tree, f"{NOTEBOOK.name}[{marker}]", "exec"), namespace)
    return namespace


# ---------------------------------------------------------------- the loss against TRL


def trl_dpo(chosen_tokens, rejected_tokens, chosen_mask, rejected_mask, ref_chosen, ref_rejected, beta):
    """The installed DPOTrainer._compute_loss on given per-token log-probabilities: (loss, logged metrics).

    The stub model returns the per-token log-probabilities (zero outside the completion, as TRL's fused head returns
    them for labels -100); the reference log-probabilities come in the batch (``precompute_ref_log_probs=True``).
    """
    from trl import DPOTrainer

    per_token = torch.cat([chosen_tokens * chosen_mask, rejected_tokens * rejected_mask])
    rows, width = per_token.shape
    identity = lambda tensor, *args, **kwargs: tensor  # noqa: E731 (one process: gathers are identities)
    outputs = types.SimpleNamespace(
        log_probs=per_token,
        entropy=torch.zeros(rows, width),
        mean_logits=torch.zeros(rows, width),
        is_top1=torch.zeros(rows, width, dtype=torch.bool),
    )
    stub = types.SimpleNamespace(
        model=types.SimpleNamespace(training=True),
        accelerator=types.SimpleNamespace(device="cpu", gather=identity, gather_for_metrics=identity),
        aux_loss_enabled=False,
        ld_alpha=None,
        precompute_ref_logps=True,
        f_divergence_type="reverse_kl",
        loss_types=["sigmoid"],
        loss_weights=[1.0],
        beta=beta,
        use_weighting=False,
        label_smoothing=0.0,
        _metrics={"train": collections.defaultdict(list), "eval": collections.defaultdict(list)},
        _total_train_tokens=0,
        _tp_size=1,
    )
    # completion_mask has one more column than the per-token log-probs (TRL shifts it by one)
    completion_mask = torch.cat([torch.zeros(rows, 1), torch.cat([chosen_mask, rejected_mask])], dim=1).long()
    inputs = {
        "input_ids": torch.zeros(rows, width + 1, dtype=torch.long),
        "attention_mask": torch.ones(rows, width + 1, dtype=torch.long),
        "completion_mask": completion_mask,
        "ref_chosen_logps": ref_chosen,
        "ref_rejected_logps": ref_rejected,
    }
    loss = DPOTrainer._compute_loss(stub, lambda **kwargs: outputs, inputs, return_outputs=False)
    return loss, {key: values[0] for key, values in stub._metrics["train"].items()}


def random_logps(seed, pairs, width, spread):
    g = torch.Generator().manual_seed(seed)
    chosen, rejected = -torch.rand(2, pairs, width, generator=g) * 4
    lengths = torch.randint(1, width + 1, (2, pairs), generator=g)
    chosen_mask = (torch.arange(width) < lengths[0].unsqueeze(1)).float()
    rejected_mask = (torch.arange(width) < lengths[1].unsqueeze(1)).float()
    ref_chosen = (chosen * chosen_mask).sum(1) + spread * torch.randn(pairs, generator=g)
    ref_rejected = (rejected * rejected_mask).sum(1) + spread * torch.randn(pairs, generator=g)
    return chosen, rejected, chosen_mask, rejected_mask, ref_chosen, ref_rejected


METRICS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")


def check_loss_equals_trl(dpo_loss, seed, pairs=4, width=7, spread=3.0, beta=0.1):
    chosen, rejected, chosen_mask, rejected_mask, ref_chosen, ref_rejected = random_logps(seed, pairs, width, spread)
    mine, logged = dpo_loss(
        (chosen * chosen_mask).sum(1), (rejected * rejected_mask).sum(1), ref_chosen, ref_rejected, beta
    )
    trl_loss, trl_logged = trl_dpo(chosen, rejected, chosen_mask, rejected_mask, ref_chosen, ref_rejected, beta)
    torch.testing.assert_close(mine, trl_loss)
    for key in METRICS:
        assert math.isclose(logged[key], trl_logged[key], rel_tol=1e-5, abs_tol=1e-6), (
            key,
            logged[key],
            trl_logged[key],
        )


@pytest.fixture(scope="module")
def nb():
    return define(LOSS_CELL)


@given(
    seed=st.integers(0, 10_000),
    pairs=st.integers(1, 6),
    width=st.integers(1, 9),
    spread=st.sampled_from([0.0, 0.5, 5.0]),
    beta=st.sampled_from([0.01, 0.1, 0.5, 2.0]),
)
@settings(max_examples=80, deadline=None)
def test_loss_and_logged_rewards_equal_trl(nb, seed, pairs, width, spread, beta):
    check_loss_equals_trl(nb["dpo_loss"], seed, pairs, width, spread, beta)


def test_loss_is_log_two_at_the_reference_and_blind_to_a_common_shift(nb):
    logps = torch.tensor([-12.0, -30.0, -7.5])
    other = torch.tensor([-20.0, -25.0, -9.0])
    loss, logged = nb["dpo_loss"](logps, other, logps, other, beta=0.1)
    torch.testing.assert_close(loss, torch.tensor(math.log(2)))
    assert logged == {key: 0.0 for key in METRICS}
    # both sides lower by the same amount: same loss, although the chosen side lost probability
    shifted, _ = nb["dpo_loss"](logps + 1 - 50, other - 2 - 50, logps, other, beta=0.1)
    unshifted, _ = nb["dpo_loss"](logps + 1, other - 2, logps, other, beta=0.1)
    torch.testing.assert_close(shifted, unshifted)
    torch.testing.assert_close(unshifted, torch.tensor(-math.log(1 / (1 + math.exp(-0.3)))))


LOSS_BROKEN = {
    "reference term dropped": [
        ("beta * (chosen_logps - ref_chosen_logps)", "beta * chosen_logps"),
        ("beta * (rejected_logps - ref_rejected_logps)", "beta * rejected_logps"),
    ],
    "sign flipped": [
        ("F.logsigmoid(chosen_rewards - rejected_rewards)", "F.logsigmoid(rejected_rewards - chosen_rewards)")
    ],
    "beta left out": [("beta * (chosen_logps - ref_chosen_logps)", "(chosen_logps - ref_chosen_logps)")],
}


@pytest.mark.parametrize("variant", LOSS_BROKEN)
def test_broken_losses_are_caught(variant):
    broken = define(LOSS_CELL, LOSS_BROKEN[variant])["dpo_loss"]
    with pytest.raises(AssertionError):
        for seed in range(5):
            check_loss_equals_trl(broken, seed)


# ---------------------------------------------------------------- the prompt mask and the batch


class GivenLogits(torch.nn.Module):
    """A stand-in model whose forward returns fixed logits for the batch it is given."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, input_ids, attention_mask):
        return types.SimpleNamespace(logits=self.logits)


def completion_sum_written_out(logits, input_ids, prompt_lengths, total_lengths):
    """Sum over t in [prompt length, total length) of log softmax(logits[t - 1])[input_ids[t]]."""
    log_probs = torch.log_softmax(logits, dim=-1)
    return torch.tensor(
        [
            sum(log_probs[row, t - 1, input_ids[row, t]].item() for t in range(prompt, total))
            for row, (prompt, total) in enumerate(zip(prompt_lengths, total_lengths))
        ]
    )


def random_features(seed, pairs, vocab=50):
    g = torch.Generator().manual_seed(seed)
    draw = lambda low, high: int(torch.randint(low, high, (1,), generator=g))  # noqa: E731
    return [
        {
            "prompt_ids": torch.randint(1, vocab, (draw(1, 8),), generator=g).tolist(),
            "chosen_ids": torch.randint(1, vocab, (draw(1, 6),), generator=g).tolist(),
            "rejected_ids": torch.randint(1, vocab, (draw(1, 6),), generator=g).tolist(),
        }
        for _ in range(pairs)
    ]


def batch_namespace(broken=()):
    return define(BATCH_CELL, broken, {"torch": torch, "F": F, "tokenizer": types.SimpleNamespace(pad_token_id=0)})


def check_collate_equals_trl(collate_pairs, seed, pairs):
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    features = random_features(seed, pairs)
    mine, theirs = collate_pairs(features), DataCollatorForPreference(pad_token_id=0)(features)
    for key in ("input_ids", "attention_mask", "completion_mask"):
        assert torch.equal(mine[key], theirs[key]), key


def check_prompt_mask(sequence_logps, collate_pairs, seed, pairs):
    features = random_features(seed, pairs)
    batch = collate_pairs(features)
    rows, width = batch["input_ids"].shape
    logits = torch.randn(rows, width, 50, generator=torch.Generator().manual_seed(seed))
    rows_features = [(f["prompt_ids"], f[side]) for side in ("chosen_ids", "rejected_ids") for f in features]
    prompt_lengths = [len(prompt) for prompt, _ in rows_features]
    total_lengths = [len(prompt) + len(completion) for prompt, completion in rows_features]
    got = sequence_logps(GivenLogits(logits), batch)
    expected = completion_sum_written_out(logits, batch["input_ids"], prompt_lengths, total_lengths)
    torch.testing.assert_close(got, expected)
    # the logits that predict prompt tokens (positions before prompt length - 1) and padding do not matter...
    scrambled = logits.clone()
    for row, (prompt, total) in enumerate(zip(prompt_lengths, total_lengths)):
        scrambled[row, : prompt - 1] = torch.randn(prompt - 1, 50) * 10
        scrambled[row, total:] = torch.randn(width - total, 50) * 10
    torch.testing.assert_close(sequence_logps(GivenLogits(scrambled), batch), got)
    # ...the ones that predict completion tokens do
    moved = logits.clone()
    moved[0, prompt_lengths[0] - 1] += torch.randn(50) * 10
    assert not torch.allclose(sequence_logps(GivenLogits(moved), batch)[0], got[0])


@given(seed=st.integers(0, 10_000), pairs=st.integers(1, 5))
@settings(max_examples=40, deadline=None)
def test_batch_layout_equals_trl_collator(seed, pairs):
    check_collate_equals_trl(batch_namespace()["collate_pairs"], seed, pairs)


@given(seed=st.integers(0, 10_000), pairs=st.integers(1, 4))
@settings(max_examples=40, deadline=None)
def test_sequence_logps_sums_the_completion_only(nb, seed, pairs):
    check_prompt_mask(nb["sequence_logps"], batch_namespace()["collate_pairs"], seed, pairs)


MASK_BROKEN = {
    "prompt left in the sum": [('batch["completion_mask"][:, 1:]).sum', 'batch["attention_mask"][:, 1:]).sum')],
    "mask not shifted": [('batch["completion_mask"][:, 1:]).sum', 'batch["completion_mask"][:, :-1]).sum')],
    "logits not shifted": [(".logits[:, :-1]", ".logits[:, 1:]")],
}
COLLATE_BROKEN = {
    "chosen and rejected swapped": [
        (
            'rows = [f["prompt_ids"] + f[f"{side}_ids"] for side in ("chosen", "rejected")',
            'rows = [f["prompt_ids"] + f[f"{side}_ids"] for side in ("rejected", "chosen")',
        ),
        (
            '* len(f[f"{side}_ids"]) for side in ("chosen", "rejected")',
            '* len(f[f"{side}_ids"]) for side in ("rejected", "chosen")',
        ),
    ],
    "prompt in the completion mask": [('[[0] * len(f["prompt_ids"])', '[[1] * len(f["prompt_ids"])')],
}


@pytest.mark.parametrize("variant", MASK_BROKEN)
def test_broken_sequence_logps_is_caught(variant):
    broken = define(LOSS_CELL, MASK_BROKEN[variant])["sequence_logps"]
    with pytest.raises(AssertionError):
        for seed in range(5):
            check_prompt_mask(broken, batch_namespace()["collate_pairs"], seed, 3)


@pytest.mark.parametrize("variant", COLLATE_BROKEN)
def test_broken_batch_layout_is_caught(variant):
    broken = batch_namespace(COLLATE_BROKEN[variant])["collate_pairs"]
    with pytest.raises(AssertionError):
        for seed in range(5):
            check_collate_equals_trl(broken, seed, 3)


# ---------------------------------------------------------------- tokenization against TRL's dataset preparation

SMOLLM2 = asset_home() / "models" / "SmolLM2-135M-Instruct"
needs_smollm2 = pytest.mark.skipif(not (SMOLLM2 / ".complete").is_file(), reason="SmolLM2 not in the asset home")


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(SMOLLM2)


def trl_prepared(tokenizer, pair):
    """TRL's own tokenization of one conversational pair (DPOTrainer._prepare_dataset with a stub trainer)."""
    from datasets import Dataset
    from trl import DPOTrainer

    args = types.SimpleNamespace(dataset_num_proc=None, max_length=None, truncation_mode="keep_start")
    prepared = DPOTrainer._prepare_dataset(types.SimpleNamespace(), Dataset.from_list([pair]), tokenizer, args, "train")
    return {key: prepared[0][key] for key in ("prompt_ids", "chosen_ids", "rejected_ids")}


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Co")), min_size=1, max_size=40)


@needs_smollm2
@given(prompt=TEXT, chosen=TEXT, rejected=TEXT)
@settings(max_examples=25, deadline=None)
def test_tokenize_pair_equals_trl(tokenizer, prompt, chosen, rejected):
    pair = {
        "prompt": [{"role": "user", "content": prompt}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }
    mine = define(BATCH_CELL, namespace={"torch": torch, "F": F, "tokenizer": tokenizer})["tokenize_pair"](pair)
    assert mine == trl_prepared(tokenizer, pair)
    # the completion is the reply, <|im_end|> and the newline the template adds after every turn
    assert tokenizer.decode(mine["chosen_ids"]) == chosen + "<|im_end|>\n"


@needs_smollm2
def test_tokenize_pair_without_the_generation_prompt_is_caught(tokenizer):
    pair = {
        "prompt": [{"role": "user", "content": "Give me JSON."}],
        "chosen": [{"role": "assistant", "content": '{"a": 1}'}],
        "rejected": [{"role": "assistant", "content": "No."}],
    }
    broken = [('prompt = token_ids(pair["prompt"], add_generation_prompt=True)', 'prompt = token_ids(pair["prompt"])')]
    mine = define(BATCH_CELL, broken, {"torch": torch, "F": F, "tokenizer": tokenizer})["tokenize_pair"](pair)
    assert mine != trl_prepared(tokenizer, pair)


# ---------------------------------------------------------------- pairs from sampled replies

SAMPLE_CELL, SCORER_CELL = "def sample_replies(", "def score_reply("


def pair_namespace(broken=()):
    """make_pair with the notebook's scorer, and a stub prompt (the pair's prompt is not what is tested here)."""
    import json

    namespace = define(SCORER_CELL, namespace={"json": json, "MISSING": object()})
    namespace["prompt_messages"] = lambda example: [{"role": "user", "content": example["title"]}]
    return define(SAMPLE_CELL, broken, namespace)


EXAMPLE = {"title": "Ada Lovelace", "answer": '{"name": "Ada Lovelace", "year": 1815}'}
HALF_RIGHT = '{"name": "Ada Lovelace", "year": "1815"}'  # valid, the year a string: field accuracy 0.5
CHATTER = "Ada Lovelace was born in 1815."  # invalid, no fields
RIGHT = '{"name": "Ada Lovelace", "year": 1815}'
RIGHT_TOO = '{"year": 1815, "name": "Ada Lovelace"}'


def check_make_pair(make_pair):
    (pair, source) = make_pair(EXAMPLE, [RIGHT, HALF_RIGHT, CHATTER, RIGHT_TOO])
    assert (pair["chosen"][0]["content"], source) == (RIGHT, "own")  # the first right reply
    assert pair["rejected"][0]["content"] == HALF_RIGHT  # the first wrong reply
    (pair, source) = make_pair(EXAMPLE, [CHATTER, HALF_RIGHT, '{"name": "Ada"}'])
    assert (pair["chosen"][0]["content"], source) == (EXAMPLE["answer"], "gold")  # none right: the gold answer
    assert pair["rejected"][0]["content"] == CHATTER
    assert make_pair(EXAMPLE, [RIGHT, RIGHT_TOO]) is None  # nothing wrong to reject


def test_make_pair_chooses_a_right_own_reply_and_rejects_a_wrong_one():
    check_make_pair(pair_namespace()["make_pair"])


PAIR_BROKEN = {
    "rejected = any reply, right or not": [("wrong[0]", "replies[-1]")],
    "chosen = the first reply, right or not": [('(right[0], "own") if right', '(replies[0], "own") if replies')],
    "a pair even when every reply is right": [("    if not wrong:\n        return None\n", "")],
}


@pytest.mark.parametrize("variant", PAIR_BROKEN)
def test_broken_make_pair_is_caught(variant):
    broken = pair_namespace(PAIR_BROKEN[variant])["make_pair"]
    with pytest.raises((AssertionError, ValueError, IndexError)):
        check_make_pair(broken)


def check_shared_prompt_sampling(sample_replies, tokenizer, model):
    """The prompt run once and its cache copied: the same greedy replies as generate(), the same samples as
    generate(num_return_sequences=n) from the same seed (float32, a tiny random model; prompts of different lengths, so left padding and positions matter)."""
    conversations = [[{"role": "user", "content": text}] for text in ("Hi.", "Name a year, and a long reason why.")]
    torch.manual_seed(0)
    greedy, shared = sample_replies(model, conversations, 3)
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(0)
    with torch.no_grad():
        generated = model.generate(
            **batch,
            do_sample=True,
            temperature=0.05,
            top_k=0,
            top_p=1.0,
            max_new_tokens=6,
            num_return_sequences=3,
            pad_token_id=tokenizer.pad_token_id,
        )
    naive = [
        t.strip() for t in tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    ]
    assert shared == [naive[0:3], naive[3:6]]
    with torch.no_grad():
        generated = model.generate(**batch, do_sample=False, max_new_tokens=6, pad_token_id=tokenizer.pad_token_id)
    assert greedy == [
        t.strip() for t in tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    ]


@pytest.fixture(scope="module")
def tiny_model(tokenizer):
    from transformers import LlamaForCausalLM

    from tests.tiny_models import tiny_llama_config

    torch.manual_seed(0)
    return LlamaForCausalLM(tiny_llama_config(tokenizer, bos_token_id=None, initializer_range=0.5)).eval()


def sampling_namespace(tokenizer, broken=()):
    import contextlib
    import copy

    from tqdm.auto import tqdm

    namespace = {
        "copy": copy,
        "torch": torch,
        "tqdm": tqdm,
        "tokenizer": tokenizer,
        "bf16": contextlib.nullcontext,
        "max_new_tokens": 6,
        "temperature": 0.05,
    }
    return define(SAMPLE_CELL, broken, namespace)


@needs_smollm2
def test_shared_prompt_sampling_equals_generate(tokenizer, tiny_model):
    check_shared_prompt_sampling(sampling_namespace(tokenizer)["sample_replies"], tokenizer, tiny_model)


SAMPLING_BROKEN = {
    "prompt tiled, cache interleaved": [
        ("input_ids=ids.repeat_interleave(n_samples, dim=0)", "input_ids=ids.repeat(n_samples, 1)"),
        ("attention_mask=mask.repeat_interleave(n_samples, dim=0)", "attention_mask=mask.repeat(n_samples, 1)"),
    ],
    "last prompt token cached too": [
        (
            "input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1]",
            "input_ids=ids, attention_mask=mask, position_ids=positions",
        ),
    ],
}


@needs_smollm2
@pytest.mark.parametrize("variant", SAMPLING_BROKEN)
def test_broken_shared_prompt_sampling_is_caught(tokenizer, tiny_model, variant):
    broken = sampling_namespace(tokenizer, SAMPLING_BROKEN[variant])["sample_replies"]
    with pytest.raises(AssertionError):
        check_shared_prompt_sampling(broken, tokenizer, tiny_model)
