"""Course models: the recipes are the notebooks' (settings, advantages, loss), and a built one loads by name."""

from __future__ import annotations

import json
import re

import pytest
import torch

from tests.notebook_code import NOTEBOOKS, notebook_cell, run_cells
from utils.course import course_models

NOTEBOOK_20 = NOTEBOOKS / "20_fine_tuning_an_llm.ipynb"
NOTEBOOK_21 = NOTEBOOKS / "21_reasoning_and_rewards.ipynb"


def notebook_20_settings() -> dict:
    """The LoRA run's numbers as notebook 20 writes them (full mode)."""
    lora = notebook_cell(NOTEBOOK_20, "lora_config = LoraConfig(")
    run = notebook_cell(NOTEBOOK_20, "def sft_config(")
    found = {
        "lora_r": re.search(r"LoraConfig\(r=(\d+)", lora),
        "lora_alpha": re.search(r"lora_alpha=(\d+)", lora),
        "train_examples": re.search(r"n_lora_train = scaled\(full=(\d+)", run),
        "batch_size": re.search(r"batch_size = scaled\(full=(\d+)", run),
        "max_length": re.search(r"max_length=(\d+)", run),
        "seed": re.search(r"seed=(\d+)", run),
        "learning_rate": re.search(
            r'sft_config\("lora", learning_rate=([\d.e-]+)\)',
            notebook_cell(NOTEBOOK_20, 'training_args = sft_config("lora"'),
        ),
        "test_examples": re.search(r"n_test = scaled\(full=(\d+)", notebook_cell(NOTEBOOK_20, "n_test = scaled(")),
        "max_new_tokens": re.search(
            r"max_new_tokens = scaled\(full=(\d+)", notebook_cell(NOTEBOOK_20, "def generate_replies(")
        ),
    }
    missing = [k for k, v in found.items() if v is None]
    assert not missing, f"notebook 20 no longer writes {missing} where this test looks"
    return {k: float(v.group(1)) for k, v in found.items()}


def mismatches(settings) -> list[str]:
    wanted = notebook_20_settings()
    return [f"{k}: {getattr(settings, k)} != {v}" for k, v in wanted.items() if float(getattr(settings, k)) != v]


def test_the_extraction_course_model_is_notebook_20s_run():
    settings = course_models.spec("smollm2-sft-extract").full
    assert mismatches(settings) == []
    assert sorted(course_models.LORA_MODULES) == sorted(
        json.loads(
            re.search(r"target_modules=(\[.*?\])", notebook_cell(NOTEBOOK_20, "lora_config = LoraConfig("))
            .group(1)
            .replace("'", '"')
        )
    )


def test_a_changed_setting_is_caught():
    import dataclasses

    changed = dataclasses.replace(course_models.spec("smollm2-sft-extract").full, lora_r=8)
    assert mismatches(changed) == ["lora_r: 8 != 16.0"]


@pytest.fixture(scope="module")
def notebook_21():
    return run_cells(NOTEBOOK_21, ["def group_advantages(", "def grpo_loss("], {"torch": torch})


def test_advantages_equal_notebook_21s(notebook_21):
    generator = torch.Generator().manual_seed(0)
    for group in (2, 4, 8):
        rewards = (torch.rand(6 * group, generator=generator) > 0.5).float() + 0.25 * (
            torch.rand(6 * group, generator=generator) > 0.5
        ).float()
        assert torch.equal(
            course_models.group_advantages(rewards, group), notebook_21["group_advantages"](rewards, group)
        )


def test_reinforce_loss_has_notebook_21s_gradient_with_one_update_and_no_kl(notebook_21):
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 5, generator=generator)
    mask = (torch.rand(8, 5, generator=generator) > 0.3).float()
    mask[:, 0] = 1
    advantages = torch.randn(8, generator=generator)
    grads = []
    for loss_of in (
        lambda lp: course_models.reinforce_loss(lp, mask, advantages),
        lambda lp: notebook_21["grpo_loss"](lp, lp.detach(), lp.detach(), advantages, mask, beta=0.0),
    ):
        logps = logits.clone().requires_grad_(True)
        loss_of(logps).backward()
        grads.append(logps.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-7)
    # a broken variant: a loss summed over tokens instead of averaged per sequence has another gradient
    logps = logits.clone().requires_grad_(True)
    (-((logps * mask).sum(1) * advantages).mean()).backward()
    assert not torch.allclose(logps.grad, grads[1], atol=1e-4)


def test_an_unknown_name_lists_the_course_models():
    with pytest.raises(ValueError, match="smollm2-sft-extract, smollm2-grpo-arith"):
        course_models.spec("smollm2-dpo")


def test_the_training_template_refuses_another_models_template():
    with pytest.raises(ValueError, match="not SmolLM2-135M-Instruct's"):
        course_models.training_chat_template("{{ messages }}")


@pytest.mark.assets
@pytest.mark.parametrize("name", list(course_models.SPECS))
def test_a_built_course_model_loads_by_name_with_its_card(name):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from utils import checkpoint

    path = checkpoint(name)  # builds it (smoke mode: seconds) unless make setup did
    info = json.loads((course_models.model_dir(name) / course_models.INFO_FILE).read_text())
    assert info["fingerprint"] == course_models.fingerprint(name)
    assert "course model" in (course_models.model_dir(name) / "README.md").read_text()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(checkpoint("smollm2"), dtype=torch.float32)
    changed = [n for n, p in model.state_dict().items() if not torch.equal(p, base.state_dict()[n])]
    assert changed, "the merged LoRA update left every weight as in SmolLM2"
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(checkpoint("smollm2")).chat_template


@pytest.mark.assets
def test_the_training_template_renders_every_conversation_as_smollm2s():
    from transformers import AutoTokenizer

    from utils import checkpoint

    tokenizer = AutoTokenizer.from_pretrained(checkpoint("smollm2"))
    template = course_models.training_chat_template(tokenizer.chat_template)
    conversations = [
        [{"role": "user", "content": "Give me JSON."}, {"role": "assistant", "content": '{"a": 1}'}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi\nthere"}],
    ]
    for messages in conversations:
        for prompt in (False, True):
            assert tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=prompt, chat_template=template
            ) == tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)


@pytest.mark.assets
def test_grpo_step_pays_each_sample_with_the_reward_it_is_given():
    """The reward argument is the one used (the reward-hacking course run passes the careless verifier)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from utils import arithmetic, checkpoint

    tokenizer = AutoTokenizer.from_pretrained(checkpoint("smollm2"))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    settings = course_models.spec("smollm2-grpo-arith").smoke
    problems = arithmetic.make_problems(2, [1], seed=3)
    calls = []

    def recording(completion, answer):
        calls.append(answer)
        return float(len(calls) % 2)  # 0, 1, 0, 1: a spread in every group of two

    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    step = course_models.grpo_step(model, tokenizer, optimizer, problems, settings, reward=recording)
    group = settings.group_size
    assert calls == [p["answer"] for p in problems for _ in range(group)]  # each sample, with its own problem's answer
    assert step["reward"] == 0.5 and step["groups without spread"] == 0.0
