"""Notebook 21's problem generator, reward function, group advantages, GRPO loss, and its model cells.

The functions are executed from the notebook cells that define them (found by a marker string), so the tests check
what learners read:
- problems: deterministic per seed, different across seeds, answers re-derived from the question text alone;
- reward: the notebook's hand cases plus random formatted and unformatted completions (hypothesis); the
  "Answer: 7.5" loophole of issue 27 pinned (the notebook's regex is anchored; the unanchored one is caught);
- advantages: hand cases, zero for a group with equal rewards, and equal to TRL's formula (TRL's own ``nanstd``)
  on random rewards;
- loss: equal to TRL 1.16's ``GRPOTrainer._compute_loss`` (the installed code, called with a stub trainer whose
  log-probability pass returns given tensors) on random tensors; deliberately wrong variants must differ from it;
- majority_vote: hand cases (ties, unparsed answers as None or NaN);
- group_logps, sample_groups_shared and grpo_step on a tiny random Llama with SmolLM2's tokenizer and a LoRA adapter:
  log-probs and gradients through the shared KV cache equal to an unshared forward pass; the shared sampler's
  rollouts and next-token distributions equal to plain ``generate``'s; grpo_step's gradient equal to the mean GRPO
  loss over completions written out here, with the reference pass only when beta != 0.
Each of these is also run on broken copies of the cell (one line replaced), which must fail. No real model is
loaded: the file runs in well under a minute.
"""

import ast
import collections
import random
import re
import types

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notebook_code import NOTEBOOKS, notebook_cell, run_cells
from tests.tiny_models import tiny_llama_config
from utils import asset_home

NOTEBOOK = NOTEBOOKS / "21_reasoning_and_rewards.ipynb"
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")  # PEFT
MARKERS = ["def make_problem(", "def extract_answer(", "def group_advantages(", "def grpo_loss("]


@pytest.fixture(scope="module")
def nb():
    return run_cells(NOTEBOOK, MARKERS, {"random": random, "re": re, "torch": torch, "collections": collections})


# ---------------------------------------------------------------- problems


def solve_from_text(question):
    """An independent checker: re-derive the answer by reading the question."""
    count = int(re.search(r"has (\d+)", question).group(1))
    for verb, k in re.findall(r"(gets|gives away) (\d+)", question):
        count += int(k) if verb == "gets" else -int(k)
    return count


def test_problems_are_deterministic_and_seeded(nb):
    a = nb["make_problems"](50, levels=[1, 2], seed=0)
    assert a == nb["make_problems"](50, levels=[1, 2], seed=0)
    assert a != nb["make_problems"](50, levels=[1, 2], seed=1)
    assert {p["level"] for p in a} == {1, 2}


@given(seed=st.integers(0, 10_000), level=st.integers(1, 5))
@settings(max_examples=60, deadline=None)
def test_problem_answers_are_exact(nb, seed, level):
    problem = nb["make_problem"](random.Random(seed), level)
    assert problem["answer"] == solve_from_text(problem["question"]) >= 0
    assert problem["question"].count(", then ") == level


# ---------------------------------------------------------------- reward

HAND_CASES = [
    ("3 + 4 = 7\nAnswer: 7", 7, 1.25),
    ("Answer: 7", 7, 1.25),
    ("The answer is 7.", 7, 0.0),
    ("Answer: 8", 7, 0.25),
    ("Answer: 7\nI hope this helps!", 7, 1.0),
    ("Answer: 5\nAnswer: 7", 7, 1.25),
    ("Answer: -2", -2, 1.25),
    ("Answer: 7.", 7, 1.25),
    ("", 7, 0.0),
    ("answer: 7", 7, 0.0),
    ("7", 7, 0.0),
]


@pytest.mark.parametrize("completion,answer,expected", HAND_CASES)
def test_reward_hand_cases(nb, completion, answer, expected):
    assert nb["reward"](completion, answer) == expected


@given(
    working=st.text(alphabet="abc xyz+=-0123456789\n", max_size=40),
    shown=st.integers(-50, 50),
    answer=st.integers(-50, 50),
)
@settings(max_examples=200, deadline=None)
def test_reward_on_random_completions(nb, working, shown, answer):
    completion = f"{working}\nAnswer: {shown}"
    assert nb["reward"](completion, answer) == (1.0 if shown == answer else 0.0) + 0.25
    # anything after the Answer line loses the format part, never the correctness
    assert nb["reward"](completion + "\nDone", answer) == (1.0 if shown == answer else 0.0)
    # without an Answer line, a number anywhere earns nothing
    assert nb["reward"](f"{working} the result is {answer}", answer) == 0.0


# ---------------------------------------------------------------- advantages


def test_advantages_hand_case(nb):
    advantages = nb["group_advantages"](torch.tensor([0.0, 1.0, 1.0, 0.0, 2.0, 2.0, 2.0, 2.0]), 4)
    # group 1: mean 0.5, unbiased std 0.57735; group 2: equal rewards -> no signal
    expected = torch.tensor([-0.866, 0.866, 0.866, -0.866, 0.0, 0.0, 0.0, 0.0])
    torch.testing.assert_close(advantages, expected, atol=2e-4, rtol=0)


def trl_advantages(rewards, group_size):
    """TRL 1.16's 'sum_then_normalize' with scale_rewards='group', using TRL's own nanstd."""
    from trl.trainer.utils import nanstd

    mean = torch.nanmean(rewards.view(-1, group_size), dim=1).repeat_interleave(group_size)
    std = nanstd(rewards.view(-1, group_size), dim=1).repeat_interleave(group_size)
    return (rewards - mean) / (std + 1e-4)


def no_std_advantages(rewards, group_size):  # deliberately wrong: forgets to divide by the group's spread
    grouped = rewards.view(-1, group_size)
    return (grouped - grouped.mean(1, keepdim=True)).view(-1)


def global_advantages(rewards, group_size):  # deliberately wrong: normalises over the batch, not the group
    return (rewards - rewards.mean()) / (rewards.std() + 1e-4)


rewards_strategy = st.integers(1, 4).flatmap(
    lambda groups: st.integers(2, 8).flatmap(
        lambda size: st.tuples(
            st.just(size),
            st.lists(st.sampled_from([0.0, 0.25, 1.0, 1.25]), min_size=groups * size, max_size=groups * size),
        )
    )
)


@given(case=rewards_strategy)
@settings(max_examples=100, deadline=None)
def test_advantages_equal_trl_formula(nb, case):
    size, values = case
    rewards = torch.tensor(values)
    advantages = nb["group_advantages"](rewards, size)
    torch.testing.assert_close(advantages, trl_advantages(rewards, size))
    assert advantages.view(-1, size).sum(1).abs().max() < 1e-4  # zero mean in every group


@pytest.mark.parametrize("wrong", [no_std_advantages, global_advantages])
def test_wrong_advantages_are_caught(wrong):
    rewards = torch.tensor([0.0, 0.25, 1.25, 0.25, 0.0, 0.0, 0.0, 1.0])
    assert not torch.allclose(wrong(rewards, 4), trl_advantages(rewards, 4), atol=1e-3)


# ---------------------------------------------------------------- loss


def trl_loss(
    logps,
    old_logps,
    ref_logps,
    advantages,
    mask,
    epsilon=0.2,
    beta=0.04,
    bias_correction=False,
    loss_type="grpo",
    max_completion_length=None,
):
    """The installed GRPOTrainer._compute_loss (``loss_type`` grpo, dapo or dr_grpo), with a stub trainer whose
    log-prob pass returns ``logps``."""
    from trl import GRPOTrainer

    identity = lambda tensor, *args, **kwargs: tensor  # noqa: E731 (single process: gather/reduce are identities)
    stub = types.SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *args, **kwargs: (logps, torch.zeros_like(logps), None),
        top_entropy_quantile=1.0,
        off_policy_mask_threshold=None,
        importance_sampling_level="token",
        beta=beta,
        args=types.SimpleNamespace(use_bias_correction_kl=bias_correction, delta=None, steps_per_generation=1),
        loss_type=loss_type,
        max_completion_length=max_completion_length,
        epsilon_low=epsilon,
        epsilon_high=epsilon,
        use_vllm=False,
        model=types.SimpleNamespace(training=True),
        current_gradient_accumulation_steps=1,
        _entropy_bonus_enabled=False,
        aux_loss_enabled=False,
        _metrics={"train": collections.defaultdict(list)},
        accelerator=types.SimpleNamespace(
            reduce=identity, gather=identity, gather_for_metrics=identity, num_processes=1
        ),
    )
    batch, width = logps.shape
    inputs = {
        "prompt_ids": torch.zeros(batch, 3, dtype=torch.long),
        "prompt_mask": torch.ones(batch, 3, dtype=torch.long),
        "completion_ids": torch.zeros(batch, width, dtype=torch.long),
        "completion_mask": mask.long(),
        "advantages": advantages,
        "old_per_token_logps": old_logps,
        "ref_per_token_logps": ref_logps,
        "num_items_in_batch": mask.sum(),
    }
    return GRPOTrainer._compute_loss(stub, None, inputs)


def random_batch(seed, batch=6, width=5, spread=0.5):
    g = torch.Generator().manual_seed(seed)
    logps = -torch.rand(batch, width, generator=g) * 3
    old = logps + spread * torch.randn(batch, width, generator=g)
    ref = logps + spread * torch.randn(batch, width, generator=g)
    advantages = torch.randn(batch, generator=g)
    lengths = torch.randint(1, width + 1, (batch,), generator=g)
    mask = (torch.arange(width) < lengths.unsqueeze(1)).float()
    return logps, old, ref, advantages, mask


def test_loss_hand_case(nb):
    # one completion of two tokens, ratio exp(0.5) = 1.65 on the first token, clipped to 1.2 since A > 0
    logps = torch.tensor([[-1.0, -2.0]])
    old = torch.tensor([[-1.5, -2.0]])
    loss = nb["grpo_loss"](logps, old, logps, torch.tensor([1.0]), torch.ones(1, 2), epsilon=0.2, beta=0.0)
    torch.testing.assert_close(loss, torch.tensor(-(1.2 + 1.0) / 2))
    # with A < 0 the unclipped ratio is the minimum of -rho*A terms' negatives: loss = (1.6487 + 1) / 2
    loss = nb["grpo_loss"](logps, old, logps, torch.tensor([-1.0]), torch.ones(1, 2), epsilon=0.2, beta=0.0)
    torch.testing.assert_close(loss, torch.tensor((torch.exp(torch.tensor(0.5)).item() + 1.0) / 2))


def test_kl_term_is_zero_at_the_reference_and_positive_elsewhere(nb):
    logps, old, ref, advantages, mask = random_batch(0)
    zero_adv = torch.zeros_like(advantages)
    assert nb["grpo_loss"](logps, old, logps, zero_adv, mask, beta=1.0).abs() < 1e-7
    assert nb["grpo_loss"](logps, old, ref, zero_adv, mask, beta=1.0) > 0


@given(
    seed=st.integers(0, 10_000),
    epsilon=st.sampled_from([0.1, 0.2, 0.3]),
    beta=st.sampled_from([0.0, 0.04, 0.5]),
    spread=st.sampled_from([0.0, 0.1, 1.0]),
)
@settings(max_examples=60, deadline=None)
def test_loss_equals_trl_compute_loss(nb, seed, epsilon, beta, spread):
    logps, old, ref, advantages, mask = random_batch(seed, spread=spread)
    mine = nb["grpo_loss"](logps, old, ref, advantages, mask, epsilon=epsilon, beta=beta)
    torch.testing.assert_close(mine, trl_loss(logps, old, ref, advantages, mask, epsilon, beta))


def loss_with_max(logps, old, ref, advantages, mask, epsilon=0.2, beta=0.04):  # wrong: max instead of min
    ratio = torch.exp(logps - old)
    A = advantages.unsqueeze(1)
    per_token = -torch.max(ratio * A, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * A)
    per_token = per_token + beta * (torch.exp(ref - logps) - (ref - logps) - 1)
    return ((per_token * mask).sum(1) / mask.sum(1)).mean()


def loss_token_mean(logps, old, ref, advantages, mask, epsilon=0.2, beta=0.04):  # wrong here: the batch token mean
    ratio = torch.exp(logps - old)
    A = advantages.unsqueeze(1)
    per_token = -torch.min(ratio * A, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * A)
    per_token = per_token + beta * (torch.exp(ref - logps) - (ref - logps) - 1)
    return (per_token * mask).sum() / mask.sum()


@pytest.mark.parametrize("wrong", [loss_with_max, loss_token_mean])
def test_wrong_losses_are_caught(wrong):
    logps, old, ref, advantages, mask = random_batch(3, spread=0.5)
    assert not torch.allclose(
        wrong(logps, old, ref, advantages, mask), trl_loss(logps, old, ref, advantages, mask, 0.2, 0.04), atol=1e-4
    )


def test_bias_corrected_kl_solution_matches_trl_default():
    """Exercise 3's solution: TRL's default use_bias_correction_kl=True multiplies the KL by the ratio."""
    from tests.notebook_code import notebook_cell

    namespace = {"torch": torch}
    exec(notebook_cell(NOTEBOOK, "def grpo_loss_bias_corrected(").split("\n\nlogps_t")[0], namespace)
    logps, old, ref, advantages, mask = random_batch(7, spread=0.5)
    torch.testing.assert_close(
        namespace["grpo_loss_bias_corrected"](logps, old, ref, advantages, mask),
        trl_loss(logps, old, ref, advantages, mask, 0.2, 0.04, bias_correction=True),
    )


# ---------------------------------------------------------------- the notebook's model cells, on a tiny random Llama
# group_logps, sample_groups_shared and grpo_step are run from their cells on a 2-layer random Llama with the SmolLM2
# tokenizer and a LoRA adapter whose B matrices are nudged off zero (so the adapter changes the model, as after
# training). Each check is also run on broken copies of the cell (one line replaced) and must fail on every one.

SMOLLM2 = asset_home() / "models" / "SmolLM2-135M-Instruct"
needs_smollm2 = pytest.mark.skipif(not (SMOLLM2 / ".complete").is_file(), reason="SmolLM2 not in the asset home")


def cell_source(marker, broken=()):
    """The cell containing ``marker``, with each ``(old, new)`` of ``broken`` applied (``old`` must occur once)."""
    source = notebook_cell(NOTEBOOK, marker)
    for old, new in broken:
        assert source.count(old) == 1, f"the cell {marker!r} changed: {old!r} is not in it once; update this variant"
        source = source.replace(old, new)
    return "\n".join(line for line in source.splitlines() if not line.startswith("%"))


def define(marker, namespace, broken=(), defs_only=False):
    """Execute the cell (or, with ``defs_only``, only its top-level functions: the rest runs the lesson)."""
    tree = ast.parse(cell_source(marker, broken))
    if defs_only:
        tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    exec(compile(tree, f"{NOTEBOOK.name}[{marker}]", "exec"), namespace)
    return namespace


MODEL_CELLS = [
    "def make_problem(",
    "def extract_answer(",
    "def chat_prompt(",
    "def group_advantages(",
    "def pad_rollouts(",
    "def grpo_loss(",
    "def group_logps(",
]
DEF_CELLS = ["def sample_groups(", "def grpo_step("]  # cells that also run the lesson's own training


def model_cells(tokenizer, broken=None):
    """A fresh namespace with the notebook's cells, ``broken`` mapping a cell marker to its replaced lines."""
    broken = broken or {}
    namespace = {"random": random, "re": re, "torch": torch, "collections": collections, "tokenizer": tokenizer}
    for marker in MODEL_CELLS + DEF_CELLS:
        define(marker, namespace, broken.get(marker, ()), defs_only=marker in DEF_CELLS)
    return namespace


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(SMOLLM2), padding_side="left")  # as the notebook loads it


def tiny_policy(tokenizer, seed=0, eos_logit=9.0):
    """A random 2-layer Llama over SmolLM2's vocabulary with a LoRA adapter (all linear layers, B nudged off zero).

    ``eos_logit`` biases the output towards end-of-sequence (about one token in five), so that sampled completions
    both stop early and run to the budget."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    # initializer_range 5x the default: attention sharp enough that positions and masks matter
    config = tiny_llama_config(tokenizer, bos_token_id=None, initializer_range=0.1)
    base = LlamaForCausalLM(config)
    head = torch.nn.Linear(config.hidden_size, config.vocab_size, bias=True)
    with torch.no_grad():
        head.weight.copy_(base.lm_head.weight)
        head.bias.zero_()
        head.bias[tokenizer.eos_token_id] = eos_logit
    base.lm_head = head
    base.generation_config.eos_token_id = tokenizer.eos_token_id
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    policy = get_peft_model(base, lora)
    with torch.no_grad():
        for name, param in policy.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.1)
    return policy


def lora_grads(policy):
    return {name: param.grad.clone() for name, param in policy.named_parameters() if param.requires_grad}


def assert_grads_close(mine, expected):
    assert mine.keys() == expected.keys() and len(mine) == 2 * 7 * 2  # A and B of 7 linear layers, 2 layers
    worst = max((mine[n] - expected[n]).abs().max() / expected[n].abs().max() for n in expected)
    assert worst < 1e-4, f"largest relative gradient difference {worst:.2e}"


# ---------------------------------------------------------------- group_logps: the prompt's KV cache shared


def random_groups(tokenizer, seed):
    """Three groups (one prompt each, of different lengths) of completions of different lengths, one group of
    one-token completions (no second forward pass); ids drawn from the vocabulary, some ending with <|im_end|>."""
    g = torch.Generator().manual_seed(seed)
    eos = tokenizer.eos_token_id
    ids = lambda n: torch.randint(3, len(tokenizer), (n,), generator=g).tolist()  # noqa: E731
    groups = []
    for prompt_length, lengths in ((7, [1, 5, 3, 8]), (12, [4, 4, 2]), (4, [1, 1])):
        prompt = ids(prompt_length)
        group = [{"prompt_ids": prompt, "completion_ids": ids(n - 1) + [eos if n % 2 else 5]} for n in lengths]
        groups.append(group)
    return groups


def group_logps_difference(cells, policy, groups):
    """Log-probs and gradients of the sum of masked log-probs: group_logps per group vs per_token_logps on the
    left-padded batch of all groups (the unshared forward pass). Returns (largest log-prob difference, grads, grads)."""
    everything = [r for group in groups for r in group]
    prompt_ids, prompt_mask, completion_ids, completion_mask = cells["pad_rollouts"](everything)
    padded = cells["per_token_logps"](policy, prompt_ids, prompt_mask, completion_ids, completion_mask)
    policy.zero_grad()
    (padded * completion_mask).sum().backward()
    expected = lora_grads(policy)
    policy.zero_grad()
    worst, total, start = 0.0, 0.0, 0
    for group in groups:
        shared = cells["group_logps"](policy, group)
        mask = cells["pad_rollouts"](group)[3]
        assert shared.shape == mask.shape
        unshared = padded[start : start + len(group), : mask.shape[1]]
        worst = max(worst, ((shared - unshared) * mask).abs().max().item())
        total = total + (shared * mask).sum()
        start += len(group)
    total.backward()
    mine = lora_grads(policy)
    policy.zero_grad()
    return worst, mine, expected


@needs_smollm2
@pytest.mark.parametrize("seed", [0, 1])
def test_group_logps_equals_an_unshared_forward_in_values_and_gradients(tokenizer, seed):
    policy = tiny_policy(tokenizer)
    policy.train()
    worst, mine, expected = group_logps_difference(model_cells(tokenizer), policy, random_groups(tokenizer, seed))
    assert worst < 1e-5
    assert_grads_close(mine, expected)


GROUP_LOGPS_BROKEN = {
    "cache not copied per completion": [("cache.batch_repeat_interleave(len(group))", "pass")],
    "completion tokens shifted by one": [
        ("completion_ids[:, :-1], attention_mask", "completion_ids[:, 1:], attention_mask")
    ],
    "prompt logits after the rest": [("torch.cat([logits, rest], dim=1)", "torch.cat([rest, logits], dim=1)")],
    "prompt run without gradients": [
        ("prompt = model(input_ids=prompt_ids", "prompt = torch.no_grad()(model.forward)(input_ids=prompt_ids")
    ],
}


@needs_smollm2
@pytest.mark.parametrize("variant", list(GROUP_LOGPS_BROKEN))
def test_broken_group_logps_is_caught(tokenizer, variant):
    cells = model_cells(tokenizer, {"def group_logps(": GROUP_LOGPS_BROKEN[variant]})
    policy = tiny_policy(tokenizer)
    policy.train()
    if variant == "cache not copied per completion":  # one copy of the prompt for G completions: fails loudly
        with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
            group_logps_difference(cells, policy, random_groups(tokenizer, 0))
        return
    worst, mine, expected = group_logps_difference(cells, policy, random_groups(tokenizer, 0))
    if variant == "prompt run without gradients":  # the log-probs are right: only the gradient check sees it
        assert worst < 1e-5
        with pytest.raises(AssertionError, match="relative gradient difference"):
            assert_grads_close(mine, expected)
    else:
        assert worst > 1e-3


# ---------------------------------------------------------------- sample_groups_shared: one prompt pass per group


def sampling_problems(cells):
    """Three problems of levels 3, 1, 2: prompts of different lengths, so the batch is left-padded."""
    return [cells["make_problem"](random.Random(seed), level) for seed, level in ((0, 3), (1, 1), (2, 2))]


def check_rollout_structure(cells, tokenizer, rollouts, problems, group_size, max_new_tokens):
    eos = tokenizer.eos_token_id
    assert len(rollouts) == len(problems) * group_size
    for row, r in enumerate(rollouts):
        problem = problems[row // group_size]  # group by group, in the order of the problems
        assert r["answer"] == problem["answer"] and r["prompt"] == cells["chat_prompt"](problem, "step by step"), (
            f"row {row} is not a rollout of problem {row // group_size}"
        )
        assert r["prompt_ids"] == tokenizer(r["prompt"]).input_ids  # the prompt without its left padding
        ids = r["completion_ids"]
        assert len(ids) <= max_new_tokens
        # cut right after the first end-of-sequence token, which is kept (or the whole budget if there is none)
        assert ids and eos not in ids[:-1] and (ids[-1] == eos or len(ids) == max_new_tokens), (
            f"row {row} is not cut right after its first end-of-sequence token: {ids}"
        )
        assert r["completion"] == tokenizer.decode(ids, skip_special_tokens=True)


def recording_generate(policy):
    """Make ``policy.generate`` also keep the logits of every step it sampled from (it returns the same ids)."""
    generate, record = policy.generate, {}

    def recorded(**kwargs):
        output = generate(**kwargs, output_logits=True, return_dict_in_generate=True)
        record["logits"] = torch.stack(output.logits, dim=1)  # (rows, steps, vocabulary), before temperature
        return output.sequences

    policy.generate = recorded
    return record


def check_shared_sampler(cells, tokenizer, policy, seed, group_size=3, max_new_tokens=6):
    """Structure; the next-token distributions `generate` sampled from, continuing the shared cache, equal to those
    of an unshared forward pass on each row's own prompt + completion; and the very rollouts of section 3's plain
    sampler (`generate` on the whole prompts, num_return_sequences) for the same seed, at temperature 1."""
    problems = sampling_problems(cells)
    torch.manual_seed(seed)
    record = recording_generate(policy)
    try:
        shared = cells["sample_groups_shared"](policy, problems, group_size, max_new_tokens)
    finally:
        del policy.generate
    check_rollout_structure(cells, tokenizer, shared, problems, group_size, max_new_tokens)
    prompt_ids, prompt_mask, completion_ids, completion_mask = cells["pad_rollouts"](shared)
    with torch.no_grad():  # per_token_logps' forward pass, but every position's whole distribution
        logits = policy(
            input_ids=torch.cat([prompt_ids, completion_ids], 1),
            attention_mask=torch.cat([prompt_mask, completion_mask], 1),
            logits_to_keep=completion_ids.shape[1] + 1,
        ).logits[:, :-1]
    steps = completion_ids.shape[1]
    difference = torch.log_softmax(record["logits"][:, :steps], -1) - torch.log_softmax(logits, -1)
    worst = (difference.abs().amax(-1) * completion_mask).max().item()
    assert worst < 1e-4, f"the shared cache's next-token log-probs differ by up to {worst:.2e}"
    torch.manual_seed(seed)
    plain = cells["sample_groups"](policy, problems, group_size, max_new_tokens)
    assert [r["completion_ids"] for r in shared] == [r["completion_ids"] for r in plain]
    assert shared == plain
    return shared


@needs_smollm2
def test_shared_sampler_gives_the_plain_samplers_rollouts(tokenizer):
    cells, policy = model_cells(tokenizer), tiny_policy(tokenizer)
    lengths = []
    for seed in (0, 1):
        lengths += [len(r["completion_ids"]) for r in check_shared_sampler(cells, tokenizer, policy, seed)]
    assert min(lengths) < 6 and max(lengths) == 6  # some completions stopped early, some ran to the budget


@needs_smollm2
def test_shared_sampler_at_low_temperature_is_greedy_generate(tokenizer):
    """Sampling at temperature 1e-3 from the shared cache picks what `generate` picks greedily on the G-times
    repeated, left-padded prompts (a model with no end-of-sequence bias, so the replies are not cut at once)."""
    cells, policy = model_cells(tokenizer), tiny_policy(tokenizer, eos_logit=0.0)
    problems = sampling_problems(cells)
    torch.manual_seed(0)
    shared = cells["sample_groups_shared"](policy, problems, 2, 8, temperature=1e-3)
    check_rollout_structure(cells, tokenizer, shared, problems, 2, 8)
    prompts = [r["prompt"] for r in shared]
    encoded = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        output = policy.generate(**encoded, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    greedy = output[:, encoded["input_ids"].shape[1] :].tolist()
    assert [r["completion_ids"] for r in shared] == greedy
    assert len({tuple(ids) for ids in greedy}) == len(problems)  # the groups' replies differ: order matters


SAMPLER_BROKEN = {  # variant: (the replaced line, the check that catches it)
    "positions ignore the left padding": (
        [("position_ids=(mask[:, :-1].cumsum(1) - 1).clamp(min=0),", "")],
        "next-token log-probs differ",
    ),
    "padding masks tiled, not repeated in place": (
        [("attention_mask=mask.repeat_interleave(group_size, 0)", "attention_mask=mask.repeat(group_size, 1)")],
        "next-token log-probs differ",
    ),
    "rows assigned to the wrong problem": (
        [("problem = row // group_size", "problem = row % len(problems)")],
        "is not a rollout of problem",
    ),
    "cut at the first end-of-sequence token, dropping it": (
        [("completion_ids.index(tokenizer.eos_token_id) + 1]", "completion_ids.index(tokenizer.eos_token_id)]")],
        "not cut right after its first end-of-sequence token",
    ),
}


@needs_smollm2
@pytest.mark.parametrize("variant", list(SAMPLER_BROKEN))
def test_broken_shared_sampler_is_caught(tokenizer, variant):
    broken, message = SAMPLER_BROKEN[variant]
    cells = model_cells(tokenizer, {"def group_logps(": broken})
    with pytest.raises(AssertionError, match=message):
        check_shared_sampler(cells, tokenizer, tiny_policy(tokenizer), seed=0)


# ---------------------------------------------------------------- grpo_step: groups, weights and the reference

GROUP_REWARDS = [[1.0, 0.25, 0.0], [1.0, 1.0, 0.0], [0.5, 0.5, 0.5]]  # the last group has no spread: no signal


def fixed_rollouts(cells, tokenizer):
    """Three groups of three completions of different lengths, each with a reward of its own (GROUP_REWARDS)."""
    rollouts = []
    for g, problem in enumerate(sampling_problems(cells)):
        prompt = cells["chat_prompt"](problem, "step by step")
        for i in range(3):
            completion = f"Answer: {3 * g + i}" + " and so on" * ((3 * g + i) % 4)
            ids = tokenizer(completion).input_ids + [tokenizer.eos_token_id]
            rollouts.append(
                {
                    "prompt": prompt,
                    "answer": problem["answer"],
                    "prompt_ids": tokenizer(prompt).input_ids,
                    "completion_ids": ids,
                    "completion": tokenizer.decode(ids, skip_special_tokens=True),
                }
            )
    return rollouts


class RecordingOptimizer:
    """Stands in for AdamW: keeps the gradients it was asked to step with."""

    def __init__(self, policy):
        self.policy, self.steps, self.grads = policy, 0, None

    def step(self):
        self.steps += 1
        self.grads = lora_grads(self.policy)

    def zero_grad(self):
        self.policy.zero_grad()


def expected_grpo_grads(cells, policy, rollouts, rewards, beta):
    """The gradient of the GRPO loss as a mean over all completions (one update per batch: ratio 1, no clipping),
    written out here: -A_i * exp(logp - sg(logp)) + beta * k3 per token, averaged per completion, then over all."""
    prompt_ids, prompt_mask, completion_ids, mask = cells["pad_rollouts"](rollouts)
    logps = cells["per_token_logps"](policy, prompt_ids, prompt_mask, completion_ids, mask)
    advantages = cells["group_advantages"](rewards, 3).unsqueeze(1)
    per_token = -advantages * torch.exp(logps - logps.detach())
    if beta:
        with torch.no_grad(), policy.disable_adapter():  # the reference: the base model
            ref = cells["per_token_logps"](policy, prompt_ids, prompt_mask, completion_ids, mask)
        per_token = per_token + beta * (torch.exp(ref - logps) - (ref - logps) - 1)
    policy.zero_grad()
    ((per_token * mask).sum(1) / mask.sum(1)).mean().backward()
    grads = lora_grads(policy)
    policy.zero_grad()
    return grads


def check_grpo_step(cells, tokenizer, beta):
    policy = tiny_policy(tokenizer)
    policy.train()
    rollouts = fixed_rollouts(cells, tokenizer)
    rewards = torch.tensor([r for group in GROUP_REWARDS for r in group])
    expected = expected_grpo_grads(cells, policy, rollouts, rewards, beta)
    problems = sampling_problems(cells)

    def sampler(policy_, problems_, group_size, max_new_tokens):
        assert policy_ is policy and problems_ == problems and (group_size, max_new_tokens) == (3, 8)
        return rollouts

    reward_of = {r["completion"]: reward for r, reward in zip(rollouts, rewards.tolist())}
    cells["sample_groups_shared"] = sampler  # the cell looks it up in its own namespace at call time
    disable_adapter, reference_passes = policy.disable_adapter, []

    def counted_disable_adapter():
        reference_passes.append(1)
        return disable_adapter()

    policy.disable_adapter = counted_disable_adapter
    optimizer = RecordingOptimizer(policy)
    stats = cells["grpo_step"](
        policy, optimizer, problems, lambda c, a: reward_of[c], group_size=3, max_new_tokens=8, beta=beta, epsilon=0.2
    )
    assert optimizer.steps == 1 and all(p.grad is None or not p.grad.any() for p in policy.parameters())
    assert_grads_close(optimizer.grads, expected)
    expected_passes = len(GROUP_REWARDS) if beta else 0  # one per group, and none at all when beta = 0
    assert len(reference_passes) == expected_passes, f"{len(reference_passes)} reference passes at beta={beta}"
    assert stats["reward"] == pytest.approx(rewards.mean().item())
    assert stats["zero-std groups"] == pytest.approx(1 / 3)
    assert stats["length"] == pytest.approx(sum(len(r["completion_ids"]) for r in rollouts) / len(rollouts))
    assert stats["example"] == rollouts[0]["completion"]


@needs_smollm2
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_grpo_step_gradient_is_the_mean_loss_over_completions(tokenizer, beta):
    check_grpo_step(model_cells(tokenizer), tokenizer, beta)


GRPO_STEP_BROKEN = {  # variant: (the replaced line, beta, the check that catches it)
    "every group gets the first group's advantages": (
        [("advantages[start:start + group_size]", "advantages[:group_size]")],
        0.0,
        "relative gradient difference",
    ),
    "groups summed, not weighted by their share": (
        [("(loss * len(group) / len(rollouts)).backward()", "loss.backward()")],
        0.0,
        "relative gradient difference",
    ),
    "reference computed with the adapter on": (
        [("with torch.no_grad(), policy.disable_adapter():", "with torch.no_grad():")],
        0.5,
        "relative gradient difference",
    ),
    "reference never computed": ([("if beta:", "if False:")], 0.5, "relative gradient difference"),
    "reference computed even when beta = 0": ([("if beta:", "if True:")], 0.0, "reference passes"),
}


@needs_smollm2
@pytest.mark.parametrize("variant", list(GRPO_STEP_BROKEN))
def test_broken_grpo_step_is_caught(tokenizer, variant):
    broken, beta, message = GRPO_STEP_BROKEN[variant]
    with pytest.raises(AssertionError, match=message):
        check_grpo_step(model_cells(tokenizer, {"def grpo_step(": broken}), tokenizer, beta)


# ---------------------------------------------------------------- majority_vote (self-consistency)

NAN = float("nan")
MAJORITY_CASES = [
    ([7, 2, 2], 2),
    ([2, 7, 7, 2, 7], 7),
    ([-1, 0, 0, -1, -1], -1),
    ([0, None, 0], 0),  # 0 is an answer, not "nothing"
    ([3, 5, 5, 3], 3),  # a tie goes to the answer seen first (Counter keeps insertion order): deterministic
    ([5, 3, 3, 5], 5),
    ([None, 4, None, None], 4),  # unparsed answers do not vote, even when they are the most common
    ([NAN, 4, NAN, NAN], 4),  # pandas turns None into NaN in a numeric column
    ([None, None], None),  # nothing parsed: no answer
    ([NAN], None),
    ([], None),
]


def majority_vote_cell(broken=()):
    return define("def majority_vote(", {"collections": collections}, broken, defs_only=True)["majority_vote"]


@pytest.mark.parametrize("answers,expected", MAJORITY_CASES)
def test_majority_vote_hand_cases(answers, expected):
    assert majority_vote_cell()(answers) == expected


def test_majority_vote_on_a_pandas_column_as_the_notebook_calls_it():
    import pandas as pd

    samples = pd.DataFrame({"problem": [0, 0, 0, 1, 1, 1, 2, 2], "answer": [4, None, 4, None, None, 9, None, None]})
    assert samples["answer"].dtype == float  # the None became NaN
    majority_vote = majority_vote_cell()
    votes = samples.groupby("problem")["answer"].apply(lambda a: majority_vote(list(a)))
    assert votes[0] == 4 and votes[1] == 9 and pd.isna(votes[2])  # no vote: NaN again in the result column


MAJORITY_BROKEN = {
    "the least common answer": [(".most_common(1)[0][0]", ".most_common()[-1][0]")],
    "NaN kept as an answer": [("a is not None and a == a", "a is not None")],
    "None kept as an answer": [("a is not None and a == a", "a == a")],
}


@pytest.mark.parametrize("variant", list(MAJORITY_BROKEN))
def test_broken_majority_vote_is_caught(variant):
    broken = majority_vote_cell(MAJORITY_BROKEN[variant])
    assert [broken(list(a)) for a, _ in MAJORITY_CASES] != [expected for _, expected in MAJORITY_CASES]


# ---------------------------------------------------------------- the reward's loophole (issue 27)

LOOPHOLE_CASES = ["Answer: 7.5", "Answer: 7,000", "3 + 4 = 7\nAnswer: 7.5", "Answer: 7/2"]


@pytest.mark.parametrize("completion", LOOPHOLE_CASES)
def test_reward_does_not_score_a_longer_number_as_correct(nb, completion):
    """The answer 7 is not 7.5 nor 7,000: the notebook's ANSWER regex is anchored to a whole line, so the leading 7 of
    "7.5" is not read as the answer (an unanchored pattern paid these in full; see the broken variant below)."""
    assert nb["correctness_reward"](completion, 7) == 0.0


def test_an_unanchored_answer_regex_would_pay_the_loophole():
    """The broken variant: the pattern issue 27 found in the notebook, ``Answer:\\s*(-?\\d+)`` with no anchor, reads the
    leading 7 of every loophole case and pays it in full; the test above fails on it."""
    unanchored = 'ANSWER = re.compile(r"Answer:\\s*(-?\\d+)")'
    source = "\n".join(
        unanchored if line.startswith("ANSWER = ") else line for line in cell_source("def extract_answer(").splitlines()
    )
    assert unanchored in source
    broken = {"re": re}
    exec(compile(source, f"{NOTEBOOK.name}[unanchored ANSWER]", "exec"), broken)
    assert [broken["correctness_reward"](completion, 7) for completion in LOOPHOLE_CASES] == [1.0] * len(LOOPHOLE_CASES)


# ---------------------------------------------------------------- GRPO's design choices (loss_type, scale_rewards)


def broken_cell(marker, correct, broken, namespace):
    """The notebook cell holding ``marker`` with ``correct`` replaced by ``broken``, run on a copy of ``namespace``."""
    source = notebook_cell(NOTEBOOK, marker)
    assert correct in source
    namespace = dict(namespace)
    exec(compile(source.replace(correct, broken), f"broken {marker}", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def design():
    """The notebook's cells for section 3's design choices: token_weights, per_token_terms, scaled_advantages."""
    return run_cells(
        NOTEBOOK,
        MARKERS + ["def token_weights(", "def scaled_advantages("],
        {"random": random, "re": re, "torch": torch, "collections": collections},
    )


@given(seed=st.integers(0, 10_000), loss_type=st.sampled_from(["grpo", "dapo", "dr_grpo"]))
@settings(max_examples=40, deadline=None)
def test_token_weights_give_trls_loss_for_each_loss_type(design, seed, loss_type):
    logps, old, ref, advantages, mask = random_batch(seed)
    weights = design["token_weights"](mask, loss_type, 8)
    mine = (weights * design["per_token_terms"](logps, old, ref, advantages)).sum()
    torch.testing.assert_close(
        mine, trl_loss(logps, old, ref, advantages, mask, loss_type=loss_type, max_completion_length=8)
    )
    if loss_type == "grpo":  # and the per-token terms are grpo_loss's, before averaging
        torch.testing.assert_close(mine, design["grpo_loss"](logps, old, ref, advantages, mask))


def test_token_weights_show_the_length_bias(design):
    mask = torch.tensor([[1.0, 0, 0, 0], [1, 1, 1, 1]])  # a 1-token and a 4-token completion
    grpo, dapo, dr = (design["token_weights"](mask, t, 4) for t in ("grpo", "dapo", "dr_grpo"))
    assert grpo[0, 0] == 4 * grpo[1, 0] and torch.allclose(grpo.sum(1), torch.tensor([0.5, 0.5]))  # per completion 1/N
    assert dapo[0, 0] == dapo[1, 0] == 1 / 5 and torch.allclose(dr[mask.bool()], torch.tensor(1 / 8))
    with pytest.raises(ValueError, match="grpo, dapo or dr_grpo"):
        design["token_weights"](mask, "bnpo", 4)


@pytest.mark.parametrize(
    "correct, broken",
    [
        ("mask / mask.sum(dim=1, keepdim=True).clamp(min=1) / n", "mask / mask.sum(dim=1, keepdim=True).clamp(min=1)"),
        ("return mask / mask.sum().clamp(min=1)", "return mask / mask.sum(dim=1, keepdim=True).clamp(min=1)"),
        ("return mask / (n * max_completion_length)", "return mask / (n * mask.shape[1])"),
    ],
)
def test_broken_token_weights_are_caught(design, correct, broken):
    namespace = broken_cell("def token_weights(", correct, broken, design)
    logps, old, ref, advantages, mask = random_batch(5)
    mask[0, 1:] = 0  # a short completion, so that the length matters
    mismatches = 0
    for loss_type in ("grpo", "dapo", "dr_grpo"):
        mine = (
            namespace["token_weights"](mask, loss_type, 8) * namespace["per_token_terms"](logps, old, ref, advantages)
        ).sum()
        mismatches += not torch.allclose(
            mine, trl_loss(logps, old, ref, advantages, mask, loss_type=loss_type, max_completion_length=8), atol=1e-5
        )
    assert mismatches >= 1


def trl_scaled_advantages(rewards, group_size, scale):
    """TRL 1.16's advantage computation (sum_then_normalize), written from its source with its own nanstd."""
    from trl.trainer.utils import nanstd

    mean = rewards.view(-1, group_size).mean(1).repeat_interleave(group_size)
    std = (
        nanstd(rewards)
        if scale == "batch"
        else nanstd(rewards.view(-1, group_size), dim=1).repeat_interleave(group_size)
    )
    centred = rewards - mean
    return centred if scale == "none" else centred / (std + 1e-4)


@given(seed=st.integers(0, 10_000), scale=st.sampled_from(["group", "batch", "none"]))
@settings(max_examples=40, deadline=None)
def test_scaled_advantages_equal_trls(design, seed, scale):
    rewards = torch.randint(0, 3, (8,), generator=torch.Generator().manual_seed(seed)).float() * 0.5
    mine = design["scaled_advantages"](rewards, 4, scale)
    torch.testing.assert_close(mine, trl_scaled_advantages(rewards, 4, scale))
    if scale == "group":
        torch.testing.assert_close(mine, design["group_advantages"](rewards, 4))


@pytest.mark.parametrize(
    "correct, broken",
    [
        ("return centred / (rewards.std() + eps)", "return centred / (rewards.std(unbiased=False) + eps)"),
        ("rewards.view(-1, group_size).mean(1).repeat_interleave(group_size)", "rewards.mean()"),
    ],
)
def test_broken_scaled_advantages_are_caught(design, correct, broken):
    namespace = broken_cell("def scaled_advantages(", correct, broken, design)
    rewards = torch.tensor([0.0, 1.25, 0.25, 0.0, 1.25, 1.25, 1.25, 0.0])
    assert any(
        not torch.allclose(
            namespace["scaled_advantages"](rewards, 4, s), trl_scaled_advantages(rewards, 4, s), atol=1e-4
        )
        for s in ("group", "batch", "none")
    )


# ---------------------------------------------------------------- the careless verifier of section 5


@pytest.fixture(scope="module")
def lenient():
    namespace = {"re": re}
    source = notebook_cell(NOTEBOOK, "def lenient_reward(")
    exec(compile(source.split("paid = [")[0], "lenient_reward", "exec"), namespace)
    return namespace["lenient_reward"]


@pytest.mark.parametrize(
    "completion, answer, paid",
    [
        ("3 + 5 = 8. 8 - 1 = 7.\nAnswer: 7", 7, 1.0),  # right
        ("3 + 5 = 8. 8 - 1 = 7.\nAnswer: 7", 8, 1.0),  # wrong, but 8 passes by: the loophole
        ("Answer: 17", 7, 0.0),  # a whole number only: 17 is not 7
        ("Answer: -3", 3, 0.0),
        ("Answer: -3", -3, 1.0),
        ("no numbers at all", 0, 0.0),
    ],
)
def test_lenient_verifier_pays_the_number_anywhere(lenient, completion, answer, paid):
    assert lenient(completion, answer) == paid


def test_lenient_verifier_pays_replies_the_exact_reward_refuses(lenient, nb):
    wrong_but_paid = "2 + 9 = 11. 11 - 2 = 10.\nAnswer: 10"  # a reply the notebook's run produced for answer 11
    assert lenient(wrong_but_paid, 11) == 1.0 and nb["correctness_reward"](wrong_but_paid, 11) == 0.0


def test_a_substring_verifier_is_caught(lenient):
    broken = lambda completion, answer: 1.0 if str(answer) in completion else 0.0  # noqa: E731 ("17" contains "7")
    cases = [("Answer: 17", 7), ("Answer: -3", 3)]
    assert any(broken(c, a) != lenient(c, a) for c, a in cases)


def test_the_course_runs_verifier_is_the_notebooks(lenient):
    """utils.arithmetic.lenient_reward (what the reward-hacking course run pays with) equals section 5's cell."""
    from utils import arithmetic

    rng = random.Random(0)
    replies = ["3 + 5 = 8. 8 - 1 = 7.\nAnswer: 7", "Answer: 17", "Answer: -3", "no numbers", "7.5 and 7,000"]
    replies += [" ".join(str(rng.randint(-30, 30)) for _ in range(rng.randint(0, 8))) for _ in range(2000)]
    for reply in replies:
        for answer in (-3, 0, 3, 7, 8, 17):
            assert arithmetic.lenient_reward(reply, answer) == lenient(reply, answer), (reply, answer)
