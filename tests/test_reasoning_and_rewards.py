"""Notebook 21's problem generator, reward function, group advantages and GRPO loss.

The functions are executed from the notebook cells that define them (found by a marker string), so the tests check
what learners read:
- problems: deterministic per seed, different across seeds, answers re-derived from the question text alone;
- reward: the notebook's hand cases plus random formatted and unformatted completions (hypothesis);
- advantages: hand cases, zero for a group with equal rewards, and equal to TRL's formula (TRL's own ``nanstd``)
  on random rewards;
- loss: equal to TRL 1.16's ``GRPOTrainer._compute_loss`` (the installed code, called with a stub trainer whose
  log-probability pass returns given tensors) on random tensors; deliberately wrong variants must differ from it.
No model is loaded: the file runs in seconds.
"""

import collections
import random
import re
import types

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notebook_code import NOTEBOOKS, run_cells

NOTEBOOK = NOTEBOOKS / "21_reasoning_and_rewards.ipynb"
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


def trl_loss(logps, old_logps, ref_logps, advantages, mask, epsilon, beta, bias_correction=False):
    """The installed GRPOTrainer._compute_loss, with a stub trainer whose log-prob pass returns ``logps``."""
    from trl import GRPOTrainer

    identity = lambda tensor, *args, **kwargs: tensor  # noqa: E731 (single process: gather/reduce are identities)
    stub = types.SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *args, **kwargs: (logps, torch.zeros_like(logps), None),
        top_entropy_quantile=1.0,
        off_policy_mask_threshold=None,
        importance_sampling_level="token",
        beta=beta,
        args=types.SimpleNamespace(use_bias_correction_kl=bias_correction, delta=None),
        loss_type="grpo",
        epsilon_low=epsilon,
        epsilon_high=epsilon,
        use_vllm=False,
        model=types.SimpleNamespace(training=True),
        current_gradient_accumulation_steps=1,
        _entropy_bonus_enabled=False,
        aux_loss_enabled=False,
        _metrics={"train": collections.defaultdict(list)},
        accelerator=types.SimpleNamespace(reduce=identity, gather=identity, gather_for_metrics=identity),
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
