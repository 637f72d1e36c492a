"""Course models: what a notebook trains and a later notebook needs, built by ``make course-models``, loadable by name.

Two models, both SmolLM2-135M-Instruct with a LoRA adapter merged into its weights (so ``from_pretrained`` loads them
like any checkpoint):

- ``smollm2-sft-extract``: notebook 20's LoRA supervised fine-tuning for JSON field extraction, with the notebook's
  settings (160 conversations, 20 steps; ``tests/test_course_models.py`` checks the settings against the notebook).
- ``smollm2-grpo-arith``: notebook 21's arithmetic, trained longer than the notebook can: a cold-start SFT on worked
  solutions, then GRPO with notebook 21's reward (REINFORCE with a group baseline, one update per batch).

``python -m utils.course course-models [NAME ...] [--force]`` builds them into ``<asset home>/course_models/<mode>/``
with a card (README.md) and ``course_model.json`` (settings, scores with intervals, timings, fingerprint). A build is
skipped when its fingerprint (settings, this file and the task code it uses, the data, library versions, the base
model) is unchanged. ``utils.checkpoint(name)`` builds one on first use. Smoke mode builds tiny, meaningless versions.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from utils import arithmetic, extraction, stats
from utils.course import catalog
from utils.course.files import MARKER, asset_path, is_complete, publish
from utils.environment import display_path, seed_everything
from utils.modes import mode_name, scaled

INFO_FILE = "course_model.json"
LIBRARIES = ("torch", "transformers", "peft", "trl", "datasets", "tokenizers", "safetensors")
CODE_VERSION = 1
LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class SftExtractSettings:
    """Notebook 20's LoRA run (section 5): the same numbers, so the course model is that run, kept."""

    train_examples: int
    test_examples: int
    batch_size: int
    learning_rate: float = 1e-3
    max_length: int = 256
    lora_r: int = 16
    lora_alpha: int = 32
    max_new_tokens: int = 32
    seed: int = 42


@dataclass(frozen=True)
class GrpoArithSettings:
    sft_problems: int  # worked solutions for the cold start (levels 1-3)
    sft_batch: int
    sft_learning_rate: float
    grpo_steps: int
    problems_per_step: int
    group_size: int
    grpo_learning_rate: float
    eval_problems: int  # held out: make_problems(n, [1, 2, 3], seed=1), notebook 21's test problems first
    max_new_tokens: int = 32
    temperature: float = 1.0
    lora_r: int = 16
    lora_alpha: int = 32
    seed: int = 0


@dataclass(frozen=True)
class CourseModelSpec:
    name: str
    notebook: str
    what: str
    full: object
    smoke: object

    def settings(self):
        return scaled(full=self.full, smoke=self.smoke)


SPECS: dict[str, CourseModelSpec] = {
    spec.name: spec
    for spec in (
        CourseModelSpec(
            name="smollm2-sft-extract",
            notebook="20",
            what="SmolLM2-135M-Instruct + notebook 20's LoRA SFT for JSON field extraction (merged)",
            full=SftExtractSettings(train_examples=160, test_examples=80, batch_size=8),
            smoke=SftExtractSettings(train_examples=4, test_examples=4, batch_size=2, max_new_tokens=8),
        ),
        CourseModelSpec(
            name="smollm2-grpo-arith",
            notebook="21",
            what="SmolLM2-135M-Instruct + cold-start SFT and GRPO on notebook 21's arithmetic (merged)",
            full=GrpoArithSettings(
                sft_problems=96,
                sft_batch=8,
                sft_learning_rate=1e-3,
                grpo_steps=30,
                problems_per_step=4,
                group_size=8,
                grpo_learning_rate=1e-4,
                eval_problems=90,
            ),
            smoke=GrpoArithSettings(
                sft_problems=4,
                sft_batch=2,
                sft_learning_rate=1e-3,
                grpo_steps=1,
                problems_per_step=2,
                group_size=2,
                grpo_learning_rate=1e-4,
                eval_problems=4,
                max_new_tokens=8,
            ),
        ),
    )
}


def names() -> list[str]:
    return list(SPECS)


def spec(name: str) -> CourseModelSpec:
    if name not in SPECS:
        raise ValueError(f"unknown course model {name!r}; the course models are: {', '.join(SPECS)}")
    return SPECS[name]


def model_dir(name: str, smoke: bool | None = None) -> Path:
    mode = mode_name() if smoke is None else ("smoke" if smoke else "full")
    return asset_path("course_models") / mode / spec(name).name


def read_info(name: str) -> dict | None:
    path = model_dir(name) / INFO_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def is_built(name: str) -> bool:
    return is_complete(model_dir(name))


def code_files() -> tuple[Path, ...]:
    return (Path(__file__), Path(arithmetic.__file__), Path(extraction.__file__))


def fingerprint(name: str) -> str:
    """Hash of everything a build depends on: settings, code, data files, library versions and the base model."""
    digest = hashlib.sha256()
    identity = {
        "name": name,
        "settings": asdict(spec(name).settings()),
        "code_version": CODE_VERSION,
        "libraries": {lib: importlib.metadata.version(lib) for lib in LIBRARIES},
    }
    digest.update(json.dumps(identity, sort_keys=True).encode())
    for path in code_files():
        digest.update(path.read_bytes())
    if name == "smollm2-sft-extract":
        for path in sorted(extraction.DATA_DIR.glob("*.jsonl")):
            digest.update(path.read_bytes())
        for path in catalog.dataset_inputs("wiki-en"):
            digest.update(path.read_bytes())
    digest.update((catalog.local_model_path("smollm2") / MARKER).read_bytes())
    return digest.hexdigest()


def describe(name: str) -> str:
    """One line: what the course model is and, once built, what it scores."""
    info = read_info(name)
    built = ""
    if info:
        headline = info["headline"]
        built = f"; {headline['metric']} {headline['value']:.2f} [{headline['low']:.2f}, {headline['high']:.2f}]"
    return f"{name}: course model built by this project ({spec(name).what}; {mode_name()} build{built})"


# --- shared pieces ---------------------------------------------------------------------------------------------


def _proportion(successes: int, n: int) -> dict:
    low, high = stats.wilson_interval(successes, n)
    return {"successes": successes, "n": n, "value": successes / n if n else 0.0, "low": low, "high": high}


def load_base():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = catalog.local_model_path("smollm2")
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model, tokenizer


def greedy(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int = 16) -> list[str]:
    """Greedy replies, batched by prompt length (order restored)."""
    import torch

    tokenizer.padding_side = "left"
    model.eval()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    replies: list[str] = [""] * len(prompts)
    for start in range(0, len(prompts), batch_size):
        indices = order[start : start + batch_size]
        batch = tokenizer([prompts[i] for i in indices], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                use_cache=True,
                pad_token_id=tokenizer.pad_token_id,
            )
        texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        for i, text in zip(indices, texts, strict=True):
            replies[i] = text.strip()
    return replies


def add_lora(model, settings):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
        target_modules=list(LORA_MODULES),
    )
    return get_peft_model(model, config)


# --- smollm2-sft-extract: notebook 20's run -------------------------------------------------------------------


def extraction_examples() -> tuple[list[dict], list[dict], dict[str, dict]]:
    from datasets import load_dataset

    files = {split: str(extraction.DATA_DIR / f"{split}.jsonl") for split in ("train", "test")}
    task = load_dataset("json", data_files=files)
    wiki = load_dataset(**catalog.local_dataset_args("wiki-en"))["train"]
    articles = {row["title"]: row for row in wiki}
    return list(task["train"]), list(task["test"]), articles


def score_extraction(model, tokenizer, settings: SftExtractSettings) -> dict:
    """Validity, field accuracy and exact match of greedy replies on notebook 20's first test examples."""
    _, test, articles = extraction_examples()
    test = test[: settings.test_examples]
    prompts = [
        tokenizer.apply_chat_template(
            extraction.to_messages(example, articles, with_answer=False), tokenize=False, add_generation_prompt=True
        )
        for example in test
    ]
    replies = greedy(model, tokenizer, prompts, settings.max_new_tokens, batch_size=20)
    scores = [extraction.score_reply(reply, example["answer"]) for reply, example in zip(replies, test, strict=True)]
    n = len(scores)
    return {
        "exact match": _proportion(sum(s["exact"] for s in scores), n),
        "format validity": _proportion(sum(s["valid"] for s in scores), n),
        "field accuracy": {"value": sum(s["field_accuracy"] for s in scores) / n, "n": n},
        "per item": [bool(s["exact"]) for s in scores],
    }


TURN = "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"


def training_chat_template(template: str) -> str:
    """Notebook 20's training template: SmolLM2's, with the assistant's turn inside ``{% generation %}`` markers
    (what TRL's ``assistant_only_loss`` needs); it renders every conversation identically (notebook 20 checks)."""
    if template.count(TURN) != 1:
        raise ValueError("the chat template is not SmolLM2-135M-Instruct's: its one message turn was not found")
    return template.replace(
        TURN,
        "{{'<|im_start|>' + message['role'] + '\n'}}"
        "{% if message['role'] == 'assistant' %}"
        "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
        "{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}"
        "{{ '\n' }}",
    )


def train_sft_extract(settings: SftExtractSettings, log: Callable[[str], None]) -> tuple[object, object, dict]:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    train, _, articles = extraction_examples()
    model, tokenizer = load_base()
    seed_everything(settings.seed)
    peft_model = add_lora(model, settings)
    rows = [{"messages": extraction.to_messages(example, articles)} for example in train[: settings.train_examples]]
    original_template = tokenizer.chat_template
    tokenizer.chat_template = training_chat_template(original_template)
    scratch = Path(tempfile.mkdtemp(prefix="llm-retreat-course-model-"))
    try:
        args = SFTConfig(
            output_dir=str(scratch),
            assistant_only_loss=True,
            max_length=settings.max_length,
            bf16=False,
            activation_checkpointing=False,
            per_device_train_batch_size=settings.batch_size,
            num_train_epochs=1,
            learning_rate=settings.learning_rate,
            lr_scheduler_type="linear",
            warmup_steps=0,
            logging_steps=2,
            save_strategy="no",
            seed=settings.seed,
            use_cpu=True,
            report_to="none",
            disable_tqdm=False,
        )
        trainer = SFTTrainer(
            model=peft_model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
        )
        output = trainer.train()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        tokenizer.chat_template = original_template
    merged = peft_model.merge_and_unload()
    merged.config.use_cache = True
    log("scoring the base model and the fine-tuned one on notebook 20's test articles")
    base_model, _ = load_base()
    before = score_extraction(base_model, tokenizer, settings)
    after = score_extraction(merged, tokenizer, settings)
    only_after, only_before, p = stats.mcnemar_exact(after["per item"], before["per item"])
    scores = {
        "task": "notebook 20's JSON field extraction, zero-shot prompt, greedy",
        "test examples": settings.test_examples,
        "base (SmolLM2, zero-shot)": before,
        "course model": after,
        "exact match, course model vs base": {
            "only course model": only_after,
            "only base": only_before,
            "McNemar p": p,
        },
        "train steps": output.global_step,
        "final logged loss": [row["loss"] for row in trainer.state.log_history if "loss" in row][-1],
    }
    headline = {"metric": "exact match", **{k: after["exact match"][k] for k in ("value", "low", "high")}}
    return merged, tokenizer, {"scores": scores, "headline": headline}


# --- smollm2-grpo-arith: cold-start SFT, then GRPO on notebook 21's arithmetic --------------------------------


def arithmetic_prompt(tokenizer, problem: dict) -> str:
    """The course model's prompt: notebook 21's step-by-step instruction, zero-shot (no worked example)."""
    messages = [{"role": "user", "content": arithmetic.STEP_BY_STEP.format(question=problem["question"])}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def held_out_problems(n: int) -> list[dict]:
    """Held-out problems: ``make_problems(n, [1, 2, 3], seed=1)``; the first 15 are notebook 21's test problems."""
    return arithmetic.make_problems(n, [1, 2, 3], seed=1)


def score_arithmetic(model, tokenizer, problems: list[dict], max_new_tokens: int) -> dict:
    replies = greedy(model, tokenizer, [arithmetic_prompt(tokenizer, p) for p in problems], max_new_tokens, 30)
    right = [arithmetic.correctness_reward(r, p["answer"]) == 1.0 for r, p in zip(replies, problems, strict=True)]
    formatted = [arithmetic.format_reward(r) > 0 for r in replies]
    by_level = {
        str(level): _proportion(
            sum(r for r, p in zip(right, problems) if p["level"] == level), sum(p["level"] == level for p in problems)
        )
        for level in sorted({p["level"] for p in problems})
    }
    return {
        "accuracy": _proportion(sum(right), len(right)),
        "format": _proportion(sum(formatted), len(formatted)),
        "accuracy by level": by_level,
        "per item": right,
        "example": replies[0],
    }


def _sft_batch(tokenizer, prompts: list[str], targets: list[str]):
    import torch

    ids, labels = [], []
    for prompt, target in zip(prompts, targets, strict=True):
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a = tokenizer(target + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        ids.append(p + a)
        labels.append([-100] * len(p) + a)
    width = max(map(len, ids))
    pad = tokenizer.pad_token_id
    return (
        torch.tensor([i + [pad] * (width - len(i)) for i in ids]),
        torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids]),
        torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels]),
    )


def group_advantages(rewards, group_size: int, eps: float = 1e-4):
    """Notebook 21's advantages: each reward minus its group's mean, over the group's standard deviation (+ eps)."""
    grouped = rewards.view(-1, group_size)
    return ((grouped - grouped.mean(dim=1, keepdim=True)) / (grouped.std(dim=1, keepdim=True) + eps)).view(-1)


def reinforce_loss(logps, mask, advantages):
    """``-mean_i A_i * mean_t log pi(token_t)``: the gradient of notebook 21's ``grpo_loss`` with one update per batch
    (ratio 1, no clipping) and beta = 0 (tests/test_course_models.py proves the gradients equal)."""
    return -((logps * mask).sum(1) / mask.sum(1).clamp(min=1) * advantages).mean()


def grpo_step(
    policy,
    tokenizer,
    optimizer,
    problems: list[dict],
    settings,
    reward: Callable[[str, int], float] = arithmetic.reward,
) -> dict:
    """One GRPO update: sample a group per problem, score it with ``reward``, normalise within groups, one step.

    With one update per batch the clipped ratio is 1, so the loss is REINFORCE with a group baseline (notebook 21,
    section 4): ``-mean_i A_i * mean_t log pi(token_t)`` over each completion's tokens up to its end-of-turn.
    """
    import torch

    tokenizer.padding_side = "left"
    prompts = [arithmetic_prompt(tokenizer, p) for p in problems]
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    group = settings.group_size
    policy.eval()
    with torch.no_grad():
        output = policy.generate(
            **encoded,
            max_new_tokens=settings.max_new_tokens,
            do_sample=True,
            temperature=settings.temperature,
            top_k=0,
            top_p=1.0,
            num_return_sequences=group,
            pad_token_id=tokenizer.pad_token_id,
        )
    completions = output[:, encoded["input_ids"].shape[1] :]
    texts = tokenizer.batch_decode(completions, skip_special_tokens=True)
    rewards = torch.tensor([reward(t, problems[i // group]["answer"]) for i, t in enumerate(texts)])
    grouped = rewards.view(len(problems), group)
    advantages = group_advantages(rewards, group)
    mask = torch.ones_like(completions)
    for row in range(completions.shape[0]):  # keep the tokens up to and including the first end-of-turn
        ends = (completions[row] == tokenizer.eos_token_id).nonzero()
        if len(ends):
            mask[row, ends[0, 0] + 1 :] = 0
    policy.train()
    input_ids = torch.cat([encoded["input_ids"].repeat_interleave(group, 0), completions], 1)
    attention = torch.cat([encoded["attention_mask"].repeat_interleave(group, 0), mask], 1)
    logits = policy(input_ids=input_ids, attention_mask=attention, logits_to_keep=completions.shape[1] + 1).logits
    logps = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, completions.unsqueeze(-1)).squeeze(-1)
    loss = reinforce_loss(logps, mask, advantages)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    correct = [arithmetic.correctness_reward(t, problems[i // group]["answer"]) for i, t in enumerate(texts)]
    return {
        "reward": rewards.mean().item(),
        "accuracy": sum(correct) / len(correct),
        "groups without spread": (grouped.std(1) == 0).float().mean().item(),
        "loss": loss.item(),
    }


def train_grpo_arith(settings: GrpoArithSettings, log: Callable[[str], None]) -> tuple[object, object, dict]:
    import torch
    from tqdm.auto import tqdm

    model, tokenizer = load_base()
    held_out = held_out_problems(settings.eval_problems)
    seen = {p["question"] for p in held_out}
    sft_problems = [
        p for p in arithmetic.make_problems(4 * settings.sft_problems, [1, 2, 3], 0) if p["question"] not in seen
    ]
    sft_problems = sft_problems[: settings.sft_problems]
    grpo_needed = settings.grpo_steps * settings.problems_per_step
    grpo_problems = [p for p in arithmetic.make_problems(4 * grpo_needed, [1, 2, 3], 11) if p["question"] not in seen]
    grpo_problems = grpo_problems[:grpo_needed]
    log(f"scoring SmolLM2 on {len(held_out)} held-out problems")
    base = score_arithmetic(model, tokenizer, held_out, settings.max_new_tokens)

    seed_everything(settings.seed)
    policy = add_lora(model, settings)
    trainable = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.sft_learning_rate)
    steps = len(sft_problems) // settings.sft_batch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / max(steps, 1))
    tokenizer.padding_side = "right"
    policy.train()
    sft_losses = []
    for step in tqdm(range(steps), desc="cold-start SFT"):
        batch = sft_problems[step * settings.sft_batch : (step + 1) * settings.sft_batch]
        input_ids, attention, labels = _sft_batch(
            tokenizer, [arithmetic_prompt(tokenizer, p) for p in batch], [arithmetic.worked_solution(p) for p in batch]
        )
        loss = policy(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        sft_losses.append(loss.item())
    after_sft = score_arithmetic(policy, tokenizer, held_out, settings.max_new_tokens)
    log(f"after the cold start: held-out accuracy {after_sft['accuracy']['value']:.3f}")

    optimizer = torch.optim.AdamW(trainable, lr=settings.grpo_learning_rate)
    history = []
    bar = tqdm(range(settings.grpo_steps), desc="GRPO")
    for step in bar:
        problems = grpo_problems[step * settings.problems_per_step : (step + 1) * settings.problems_per_step]
        history.append(grpo_step(policy, tokenizer, optimizer, problems, settings))
        bar.set_postfix(reward=f"{history[-1]['reward']:.2f}")
    merged = policy.merge_and_unload()
    merged.config.use_cache = True
    after = score_arithmetic(merged, tokenizer, held_out, settings.max_new_tokens)
    gained, lost, p = stats.mcnemar_exact(after["per item"], after_sft["per item"])
    scores = {
        "task": f"notebook 21's arithmetic, zero-shot step-by-step prompt, greedy, {settings.max_new_tokens} new tokens",
        "held-out problems": len(held_out),
        "base (SmolLM2)": base,
        "after cold-start SFT": after_sft,
        "course model (after GRPO)": after,
        "GRPO vs cold start": {"only after GRPO": gained, "only after cold start": lost, "McNemar p": p},
        "cold-start SFT": {"problems": len(sft_problems), "steps": steps, "losses": sft_losses},
        "GRPO history": history,
    }
    headline = {"metric": "held-out accuracy", **{k: after["accuracy"][k] for k in ("value", "low", "high")}}
    return merged, tokenizer, {"scores": scores, "headline": headline}


RECIPES = {"smollm2-sft-extract": train_sft_extract, "smollm2-grpo-arith": train_grpo_arith}


# --- building --------------------------------------------------------------------------------------------------


def _readable(value):
    """The scores without the per-item lists and step histories (they stay in course_model.json)."""
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items() if k not in ("per item", "GRPO history", "losses")}
    return value


def model_card(name: str, info: dict) -> str:
    course_model = spec(name)
    headline = info["headline"]
    smoke = " (small and fast: the numbers are not meaningful)" if info["mode"] == "smoke" else ""
    scores = _readable(info["scores"])
    return f"""# {name} (course model)

{course_model.what}. Built by LLM Retreat with `make course-models` from notebook {course_model.notebook}'s task;
not a published checkpoint. Base: SmolLM2-135M-Instruct from the offline kit (dequantised from 4-bit GGUF).

- Build mode: {info["mode"]}{smoke}
- Settings: {json.dumps(info["settings"])}
- Training time: {info["train_seconds"]:.0f} s on {info["threads"]} CPU threads, float32
- Headline: {headline["metric"]} {headline["value"]:.3f} (95% Wilson interval [{headline["low"]:.3f}, {headline["high"]:.3f}])

## Scores

```json
{json.dumps(scores, indent=1)}
```

## Limits

A 135M-parameter model tuned on one small task: expect errors outside it, and on the task itself as the scores show.
"""


def build(name: str, force: bool = False, log: Callable[[str], None] = print) -> dict:
    """Build course model ``name`` for the current mode unless an identical build exists; return its info."""
    import torch

    course_model = spec(name)
    settings = course_model.settings()
    target = model_dir(name)
    wanted = fingerprint(name)
    info = read_info(name)
    if not force and info and info.get("fingerprint") == wanted and is_built(name):
        log(f"{name}: up to date ({mode_name()} build)")
        return info
    previous = f"; the last build here took {info['train_seconds']:.0f} s" if info else ""
    log(
        f"{name}: building ({mode_name()} mode) -> {display_path(target)}{previous}. Bars show the steps and time left."
    )
    started = time.perf_counter()
    info = {}

    def fill(staging: Path) -> None:
        random.seed(0)
        model, tokenizer, results = RECIPES[name](settings, log)
        model.save_pretrained(staging)  # safetensors
        tokenizer.save_pretrained(staging)
        info.update({
            "name": name,
            "mode": mode_name(),
            "fingerprint": wanted,
            "notebook": course_model.notebook,
            "settings": asdict(settings),
            **results,
            "train_seconds": round(time.perf_counter() - started, 1),
            "threads": torch.get_num_threads(),
        })  # fmt: skip
        (staging / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        (staging / "README.md").write_text(model_card(name, info), encoding="utf-8")

    publish(target, wanted, fill)
    headline = info["headline"]
    log(f"{name}: done in {info['train_seconds']:.0f} s; {headline['metric']} {headline['value']:.3f}")
    return info


def main(argv: list[str]) -> int:
    force = "--force" in argv
    wanted = [a for a in argv if a != "--force"] or names()
    unknown = [n for n in wanted if n not in SPECS]
    if unknown:
        print(f"unknown course model(s) {unknown}; the course models are: {', '.join(SPECS)}")
        return 2
    for name in wanted:
        build(name, force=force)
    return 0
