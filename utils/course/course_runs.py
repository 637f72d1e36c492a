"""Course runs: measurements a notebook needs from more training than its 5-minute budget allows, built by ``make``.

A course run keeps results, not a model: ``course_run.json`` (settings, every run's losses, timings, fingerprint) and
a card (README.md) in ``<asset home>/course_runs/<mode>/<name>/``. Like the course models it is fingerprinted
(settings, this file and the code it uses, the data, library and Python versions) and rebuilt only when one changes;
``utils.course_run(name)`` (:mod:`utils.course.resolve`) builds it on first use and returns the results. Smoke mode builds tiny, meaningless versions.

- ``pretraining-scaling`` (notebook 19, section 7): notebook 19's pretraining recipe at four model sizes on one FLOP
  budget, three seeds each, and an ablation at the reference size: the same model without position encoding (RoPE
  off). Every model is scored on the same validation blocks, so sizes and variants are compared block by block.
- ``reward-hacking`` (notebook 21, section 5): the GRPO step of the course model ``smollm2-grpo-arith``, from the base
  SmolLM2 with a fresh LoRA adapter, paid by the careless verifier (the right number anywhere in the reply) instead
  of the exact reward; the exact correctness is logged beside it, and held-out problems are scored every few steps.

``python -m utils.course course-runs [NAME ...] [--force]`` (``make course-models`` calls it) builds them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from utils import arithmetic, pretraining
from utils.compile_benchmark import machine
from utils.course import course_models
from utils.course.files import asset_path, is_complete, publish
from utils.environment import display_path, seed_everything
from utils.modes import mode_name, scaled

INFO_FILE = "course_run.json"
LIBRARIES = ("torch", "transformers", "tokenizers", "datasets")
CODE_VERSION = 1


@dataclass(frozen=True)
class Size:
    name: str
    hidden_size: int
    num_layers: int
    intermediate_size: int
    heads: int = 4


@dataclass(frozen=True)
class ScalingSettings:
    sizes: tuple[Size, ...]
    budget_steps: int  # the FLOP budget: this many steps of the reference size
    seeds: tuple[int, ...]
    files: int | None = None  # standard-library files read (None: all, as notebook 19 in full mode)
    reference: str = "medium"  # defines the budget, and is trained again without positions (the ablation)
    batch_size: int = 16
    block_size: int = 128
    learning_rate: float = 3e-3
    vocab_size: int = 4096
    logging_steps: int = 10
    eval_blocks: int | None = None  # validation blocks scored (None: all)


NOTEBOOK_19_SIZES = (  # notebook 19's small, medium (its section 6 model) and large, and a smaller one
    Size("tiny", 64, 2, 192),
    Size("small", 96, 3, 256),
    Size("medium", 128, 4, 384),
    Size("large", 192, 6, 512, heads=6),
)


@dataclass(frozen=True)
class CourseRunSpec:
    name: str
    notebook: str
    what: str
    full: object
    smoke: object
    recipe: Callable = field(repr=False, compare=False, default=None)
    inputs: Callable = field(repr=False, compare=False, default=lambda settings: [])  # data files it reads
    code: Callable = field(repr=False, compare=False, default=tuple)  # code files it runs, besides this one
    summary: Callable = field(repr=False, compare=False, default=None)  # the card's results, as Markdown

    def settings(self):
        return scaled(full=self.full, smoke=self.smoke)


# --- pretraining-scaling --------------------------------------------------------------------------------------


def scaling_data(settings: ScalingSettings):
    """Notebook 19's corpus, tokenizer and packed blocks: (tokenizer, train blocks, validation blocks)."""
    splits = pretraining.corpus(pretraining.stdlib_paths(settings.files))
    tokenizer = pretraining.train_tokenizer([row["text"] for row in splits["train"]], settings.vocab_size)
    train = pretraining.pack(tokenizer, [row["text"] for row in splits["train"]], settings.block_size)
    validation = pretraining.pack(tokenizer, [row["text"] for row in splits["validation"]], settings.block_size)
    return tokenizer, train, validation[: settings.eval_blocks]


def plan(settings: ScalingSettings, tokenizer) -> dict[str, dict]:
    """Steps per size for one FLOP budget (6 N D, D = steps x batch x block), fixed before anything trains."""
    import torch
    from transformers import AutoModelForCausalLM

    tokens_per_step = settings.batch_size * settings.block_size
    sizes = {}
    for size in settings.sizes:
        config = pretraining.llama_config(
            tokenizer, size.hidden_size, size.num_layers, size.intermediate_size, heads=size.heads,
            block_size=settings.block_size,
        )  # fmt: skip
        with torch.device("meta"):
            sizes[size.name] = (config, pretraining.n_params(AutoModelForCausalLM.from_config(config)))
    budget = 6 * sizes[settings.reference][1] * settings.budget_steps * tokens_per_step
    result = {}
    for name, (config, parameters) in sizes.items():
        steps = max(1, round(budget / (6 * parameters * tokens_per_step)))
        result[name] = {
            "config": config,
            "parameters": parameters,
            "embedding parameters": config.vocab_size * config.hidden_size,
            "steps": steps,
            "tokens": steps * tokens_per_step,
            "FLOPs": 6 * parameters * steps * tokens_per_step,
        }
    return result


def train_one(config, tokenizer, dataset, steps: int, seed: int, settings: ScalingSettings, positions: bool = True):
    """Notebook 19's recipe (section 7): AdamW at 3e-3, cosine with 10 % warm-up, weight decay 0.1, batch 16."""
    from transformers import AutoModelForCausalLM, DataCollatorForLanguageModeling, Trainer, TrainingArguments

    seed_everything(seed)
    model = AutoModelForCausalLM.from_config(config)
    if not positions:
        pretraining.without_positions(model)
    scratch = Path(tempfile.mkdtemp(prefix="llm-retreat-course-run-"))
    try:
        args = TrainingArguments(
            output_dir=str(scratch),
            max_steps=steps,
            per_device_train_batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=0.1,
            weight_decay=0.1,
            logging_steps=settings.logging_steps,
            save_strategy="no",
            seed=seed,
            use_cpu=True,
            report_to="none",
            disable_tqdm=False,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=dataset,
            data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        )
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    curve = [[row["step"], row["loss"]] for row in trainer.state.log_history if "loss" in row]
    return model, seconds, curve


def run_scaling(settings: ScalingSettings, log: Callable[[str], None]) -> dict:
    import torch
    from datasets import Dataset

    started = time.perf_counter()
    tokenizer, train, validation = scaling_data(settings)
    log(f"corpus: {len(train):,} training blocks, {len(validation):,} validation blocks of {settings.block_size}")
    dataset = Dataset.from_dict({"input_ids": train})
    sizes = plan(settings, tokenizer)
    jobs = [(name, seed, True) for seed in settings.seeds for name in sizes]
    jobs += [(settings.reference, seed, False) for seed in settings.seeds]
    runs = []
    for number, (name, seed, positions) in enumerate(jobs, 1):
        variant = "RoPE" if positions else "no positions"
        log(f"run {number}/{len(jobs)}: {name} ({variant}), seed {seed}, {sizes[name]['steps']} steps")
        model, seconds, curve = train_one(
            sizes[name]["config"], tokenizer, dataset, sizes[name]["steps"], seed, settings, positions
        )
        losses = pretraining.token_losses(model, validation)
        runs.append({
            "size": name,
            "positions": variant,
            "seed": seed,
            "seconds": round(seconds, 1),
            "validation loss": float(losses.mean()),
            "block losses": [round(float(x), 5) for x in losses.mean(axis=1)],
            "position losses": [round(float(x), 4) for x in losses.mean(axis=0)],  # position 1 .. block size - 1
            "training curve": curve,
        })  # fmt: skip
    unigram = pretraining.unigram_block_losses(train, validation, len(tokenizer))
    return {
        "sizes": {name: {k: v for k, v in row.items() if k != "config"} for name, row in sizes.items()},
        "budget FLOPs": sizes[settings.reference]["FLOPs"],
        "training blocks": len(train),
        "validation blocks": len(validation),
        "unigram loss": float(unigram.mean()),
        "unigram block losses": [round(float(x), 5) for x in unigram],
        "runs": runs,
        "python": platform.python_version(),
        "machine": machine(),
        "threads": torch.get_num_threads(),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _scaling_inputs(settings: ScalingSettings) -> list[Path]:
    return pretraining.stdlib_paths(settings.files)


# --- reward-hacking ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HackingSettings:
    steps: int
    problems_per_step: int
    group_size: int
    learning_rate: float
    eval_problems: int  # held out: the course model's (notebook 21's test problems first)
    eval_every: int  # held-out problems scored before training, every this many steps, and at the end
    max_new_tokens: int = 32
    temperature: float = 1.0
    lora_r: int = 16
    lora_alpha: int = 32
    seed: int = 0


def score_both(model, tokenizer, problems: list[dict], max_new_tokens: int) -> dict:
    """Greedy replies to ``problems`` with what each verifier says: per item, paid (lenient), right (exact), numbers."""
    prompts = [course_models.arithmetic_prompt(tokenizer, p) for p in problems]
    replies = course_models.greedy(model, tokenizer, prompts, max_new_tokens, 30)
    answers = [p["answer"] for p in problems]
    return {
        "paid": [arithmetic.lenient_reward(r, a) == 1.0 for r, a in zip(replies, answers, strict=True)],
        "right": [arithmetic.correctness_reward(r, a) == 1.0 for r, a in zip(replies, answers, strict=True)],
        "numbers": [len(arithmetic.NUMBER.findall(r)) for r in replies],
        "replies": replies,
    }


def run_hacking(settings: HackingSettings, log: Callable[[str], None]) -> dict:
    import torch
    from tqdm.auto import tqdm

    started = time.perf_counter()
    model, tokenizer = course_models.load_base()
    held_out = course_models.held_out_problems(settings.eval_problems)
    seen = {p["question"] for p in held_out}
    needed = settings.steps * settings.problems_per_step
    problems = [p for p in arithmetic.make_problems(4 * needed, [1, 2, 3], 11) if p["question"] not in seen][:needed]
    seed_everything(settings.seed)
    policy = course_models.add_lora(model, settings)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=settings.learning_rate)
    checkpoints = {0: score_both(policy, tokenizer, held_out, settings.max_new_tokens)}
    history = []
    bar = tqdm(range(settings.steps), desc="GRPO, lenient verifier")
    for step in bar:
        batch = problems[step * settings.problems_per_step : (step + 1) * settings.problems_per_step]
        history.append(
            course_models.grpo_step(policy, tokenizer, optimizer, batch, settings, reward=arithmetic.lenient_reward)
        )
        bar.set_postfix(paid=f"{history[-1]['reward']:.2f}", right=f"{history[-1]['accuracy']:.2f}")
        if (step + 1) % settings.eval_every == 0 or step + 1 == settings.steps:
            checkpoints[step + 1] = score_both(policy, tokenizer, held_out, settings.max_new_tokens)
            paid, right = (sum(checkpoints[step + 1][k]) for k in ("paid", "right"))
            log(f"step {step + 1}: held out, paid {paid} and right {right} of {len(held_out)}")
    return {
        "held-out problems": len(held_out),
        "training problems": len(problems),
        "history": [
            {
                "step": i + 1,
                "paid": h["reward"],
                "right": h["accuracy"],
                "groups without spread": h["groups without spread"],
                "loss": h["loss"],
            }
            for i, h in enumerate(history)
        ],
        "checkpoints": {str(step): scores for step, scores in checkpoints.items()},
        "python": platform.python_version(),
        "machine": machine(),
        "threads": torch.get_num_threads(),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _scaling_summary(results: dict) -> str:
    rows = "\n".join(
        f"| {r['size']} | {r['positions']} | {r['seed']} | {r['validation loss']:.4f} | {r['seconds']:.0f} |"
        for r in results["runs"]
    )
    return f"""Validation: {results["validation blocks"]} blocks; unigram baseline {results["unigram loss"]:.4f} nats per token

| size | positions | seed | validation loss | seconds |
|---|---|---|---|---|
{rows}"""


def _hacking_summary(results: dict) -> str:
    n = results["held-out problems"]
    rows = "\n".join(
        f"| {step} | {sum(c['paid'])} of {n} | {sum(c['right'])} of {n} | {sum(c['numbers']) / n:.1f} |"
        for step, c in results["checkpoints"].items()
    )
    return f"""Training: {len(results["history"])} steps on {results["training problems"]} problems. Held out: greedy replies

| after step | paid by the lenient verifier | exactly right | numbers per reply |
|---|---|---|---|
{rows}"""


SPECS: dict[str, CourseRunSpec] = {
    spec.name: spec
    for spec in (
        CourseRunSpec(
            name="pretraining-scaling",
            notebook="19",
            what="notebook 19's pretraining at four sizes on one FLOP budget, three seeds, and RoPE vs no positions",
            full=ScalingSettings(sizes=NOTEBOOK_19_SIZES, budget_steps=250, seeds=(0, 1, 2)),
            smoke=ScalingSettings(
                sizes=(Size("small", 32, 1, 64), Size("medium", 48, 1, 96)),
                budget_steps=2,
                seeds=(0,),
                files=40,
                vocab_size=512,
                block_size=32,
                batch_size=4,
                logging_steps=1,
                eval_blocks=16,
            ),
            recipe=run_scaling,
            inputs=_scaling_inputs,
            code=lambda: (Path(pretraining.__file__),),
            summary=_scaling_summary,
        ),
        CourseRunSpec(
            name="reward-hacking",
            notebook="21",
            what="GRPO from SmolLM2 paid by a careless verifier (the right number anywhere), exact correctness logged",
            full=HackingSettings(
                steps=48, problems_per_step=4, group_size=8, learning_rate=3e-4, eval_problems=90, eval_every=12
            ),
            smoke=HackingSettings(
                steps=2,
                problems_per_step=2,
                group_size=2,
                learning_rate=3e-4,
                eval_problems=4,
                eval_every=1,
                max_new_tokens=8,
            ),
            recipe=run_hacking,
            code=lambda: course_models.code_files(),  # it runs the course models' GRPO step
            summary=_hacking_summary,
        ),
    )
}


def names() -> list[str]:
    return list(SPECS)


def spec(name: str) -> CourseRunSpec:
    if name not in SPECS:
        raise ValueError(f"unknown course run {name!r}; the course runs are: {', '.join(SPECS)}")
    return SPECS[name]


def run_dir(name: str) -> Path:
    return asset_path("course_runs") / mode_name() / spec(name).name


def read_info(name: str) -> dict | None:
    path = run_dir(name) / INFO_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def code_files(name: str) -> tuple[Path, ...]:
    """The code a run depends on: this file and the files its spec names (notebook 19's functions for the scaling
    study, the course models' code for reward-hacking), so a change elsewhere does not rebuild it."""
    return (Path(__file__), *spec(name).code())


def fingerprint(name: str) -> str:
    """Hash of what a run depends on: settings, code, the input files, library and Python versions."""
    settings = spec(name).settings()
    digest = hashlib.sha256()
    identity = {
        "name": name,
        "settings": asdict(settings),
        "code_version": CODE_VERSION,
        "libraries": {lib: importlib.metadata.version(lib) for lib in LIBRARIES},
        "python": platform.python_version(),
    }
    digest.update(json.dumps(identity, sort_keys=True).encode())
    for path in code_files(name):
        digest.update(path.read_bytes())
    for path in spec(name).inputs(settings):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def is_built(name: str) -> bool:
    info = read_info(name)
    return bool(info) and is_complete(run_dir(name)) and info.get("fingerprint") == fingerprint(name)


def card(name: str, info: dict) -> str:
    run = spec(name)
    smoke = " (small and fast: the numbers are not meaningful)" if info["mode"] == "smoke" else ""
    results = info["results"]
    return f"""# {name} (course run)

{run.what}. Built by LLM Retreat with `make course-models` for notebook {run.notebook}; results only, no model is
kept.

- Build mode: {info["mode"]}{smoke}
- Settings: {json.dumps(info["settings"])}
- Built in {results["seconds"]:.0f} s on {results["threads"]} PyTorch threads ({results["machine"]["cpu"]}), float32, Python {results["python"]}

{run.summary(results)}
"""


def build(name: str, force: bool = False, log: Callable[[str], None] = print) -> dict:
    """Build course run ``name`` for the current mode unless an identical build exists; return its info."""
    run = spec(name)
    target = run_dir(name)
    if not force and is_built(name):
        log(f"{name}: up to date ({mode_name()} build)")
        return read_info(name)
    previous = read_info(name)
    took = f"; the last build here took {previous['results']['seconds']:.0f} s" if previous else ""
    log(f"{name}: building ({mode_name()} mode) -> {display_path(target)}{took}. Bars show each run's steps.")
    wanted = fingerprint(name)
    info = {}

    def fill(staging: Path) -> None:
        info.update({
            "name": name,
            "mode": mode_name(),
            "fingerprint": wanted,
            "notebook": run.notebook,
            "settings": asdict(run.settings()),
            "results": run.recipe(run.settings(), log),
        })  # fmt: skip
        (staging / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        (staging / "README.md").write_text(card(name, info), encoding="utf-8")

    publish(target, wanted, fill)
    log(f"{name}: done in {info['results']['seconds']:.0f} s")
    return info


def main(argv: list[str]) -> int:
    force = "--force" in argv
    wanted = [a for a in argv if a != "--force"] or names()
    unknown = [n for n in wanted if n not in SPECS]
    if unknown:
        print(f"unknown course run(s) {unknown}; the course runs are: {', '.join(SPECS)}")
        return 2
    for name in wanted:
        build(name, force=force)
    return 0
