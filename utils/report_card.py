"""The course's report card: every course model scored on notebook 22's suites, with Wilson intervals.

A lesson helper. Notebook 22 writes each scoring function where it teaches it (multiple choice three ways, HumanEval
completions cut at a stop sequence); ``tests/test_evaluating_llms.py`` proves the copies here equal to the notebook's
cells, on hand cases and on a tiny model whose log-probabilities are known. The suites:

- **MC generated** / **MC written**: notebook 22's multiple-choice items (:func:`mc_items`), scored three ways:
  ``letter (generated)``: the reply's first letter, :func:`parse_letter`; ``letter (log-prob)``: the most likely of
  the four letter tokens at the first step; ``answer (per token)``: the option whose text has the highest mean
  log-probability per token after the question alone. Chance is 25 %.
- **HumanEval**: ``n`` sampled completions of each of the notebook's problems (the shortest prompts), run in
  :mod:`utils.sandbox`; pass@1 by the unbiased estimator (:mod:`utils.pass_at_k`) with a Wilson interval over the
  ``n x problems`` samples.

``python -m utils.course.report_card`` (the command, which resolves catalog names) scores the models it is given
with :func:`score_model` and writes ``<asset home>/report_card/card.json`` and ``card.md``; :func:`load_card` reads
them back. A course model's own task
metrics come from the ``"scores"`` of the ``course_model.json`` in its folder, when it has one.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch

from utils.environment import asset_home, seed_everything
from utils.modes import mode_name, scaled
from utils.multiple_choice import KINDS, LETTERS
from utils.pass_at_k import pass_at_k
from utils.sandbox import run_humaneval
from utils.stats import wilson_interval

LETTER = re.compile(r"\s*(?:(?i:the answer is|answer)\s*:?\s*)?\(?([A-D])(?![A-Za-z])")
CODE_BLOCK = re.compile(r"```(?:python)?\n(.*?)(?:\n```|$)", re.DOTALL)
STOP = ["\n```"]  # the end of the reply's code block
FENCE = "```python\n"  # pre-filled: the reply starts with code
MODELS = ("smollm2", "smollm2-sft-extract", "smollm2-grpo-arith")
SAMPLING = {"temperature": 0.2, "top_p": 0.95}


# --- the scoring functions, equal to notebook 22's cells ---------------------------------------------------------


def mc_prompt(tokenizer, question):
    options = "\n".join(f"{letter}. {option}" for letter, option in zip(LETTERS, question["options"]))
    content = f"{question['question']}\n{options}\nAnswer with the letter of the correct option."
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
    )


def parse_letter(reply):
    # The option a generated reply names: "B", "B.", "(B)", "Answer: B", "The answer is B"; None otherwise.
    match = LETTER.match(reply)
    return LETTERS.index(match.group(1)) if match else None


def letter_answers(model, tokenizer, questions, max_new_tokens=5, batch_size=16):
    # Greedy replies, and the log-probabilities of the tokens "A".."D" at the first step (the same forward pass).
    letter_ids = [tokenizer.encode(letter, add_special_tokens=False)[0] for letter in LETTERS]
    replies, letter_logprobs = [], []
    for start in range(0, len(questions), batch_size):
        prompts = [mc_prompt(tokenizer, q) for q in questions[start : start + batch_size]]
        inputs = tokenizer(prompts, return_tensors="pt", padding=True)
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=tokenizer.pad_token_id,
            )
        new_tokens = out.sequences[:, inputs["input_ids"].shape[1] :]
        replies += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        letter_logprobs += out.logits[0].float().log_softmax(-1)[:, letter_ids].tolist()
    return replies, letter_logprobs


def option_logprobs(model, tokenizer, questions):
    # For each question, the summed log-probability of each option's tokens after the question alone (no options
    # shown), and the number of tokens of each option. The question is read once; its KV cache serves all 4 options.
    sums, counts = [], []
    for question in questions:
        context = tokenizer.apply_chat_template(
            [{"role": "user", "content": question["question"]}], tokenize=False, add_generation_prompt=True
        )
        context_ids = torch.tensor([tokenizer.encode(context, add_special_tokens=False)])
        options = [tokenizer.encode(option, add_special_tokens=False) for option in question["options"]]
        width = max(len(o) for o in options)
        option_ids = torch.tensor([o + [tokenizer.pad_token_id] * (width - len(o)) for o in options])
        attention_mask = torch.tensor([[1] * (context_ids.shape[1] + len(o)) + [0] * (width - len(o)) for o in options])
        with torch.inference_mode():
            context_out = model(input_ids=context_ids, use_cache=True, logits_to_keep=1)
            cache = context_out.cache
            cache.batch_repeat_interleave(len(options))  # one copy of the question's cache per option
            option_logits = model(input_ids=option_ids, attention_mask=attention_mask, cache=cache).logits
        # option token t is predicted by the logits one position earlier: the question's last one for t = 0
        logits = torch.cat([context_out.logits[:, -1:].expand(len(options), 1, -1), option_logits[:, :-1]], dim=1)
        picked = logits.float().log_softmax(-1).gather(-1, option_ids[..., None])[..., 0]
        sums.append([picked[row, : len(o)].sum().item() for row, o in enumerate(options)])
        counts.append([len(o) for o in options])
    return sums, counts


def argmax(scores):
    return max(range(len(scores)), key=lambda i: scores[i])  # the first of equal maxima


def humaneval_prompt(tokenizer, problem):
    content = f"Complete the following Python function:\n```python\n{problem['prompt']}```"
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
    )
    return chat + FENCE  # the reply starts with code


def extract_code(reply):
    # The first code block of a chat reply (to its end when unclosed); the whole reply when it has none.
    match = CODE_BLOCK.search(reply)
    return "\n" + (match.group(1) if match else reply)


# --- the report card ----------------------------------------------------------------------------------------------


def mc_items(
    generated: Sequence[Mapping], written: Sequence[Mapping], per_kind: int, n_written: int, seed: int = 0
) -> tuple[list[dict], list[dict]]:
    """Notebook 22's items: the first ``per_kind`` generated questions of each kind, and ``n_written`` written ones
    drawn with ``random.Random(seed)``. Returns ``(generated items, written items)``."""
    chosen = [dict(q) for kind in KINDS for q in [x for x in generated if x["category"] == kind][:per_kind]]
    return chosen, [dict(q) for q in random.Random(seed).sample(list(written), n_written)]


def humaneval_items(problems: Iterable[Mapping], count: int) -> list[dict]:
    """The ``count`` HumanEval problems with the shortest prompts (ties by task id): cheap to prefill on a CPU, and
    easier than the benchmark as a whole, so their pass rate is not HumanEval's."""
    return sorted((dict(p) for p in problems), key=lambda p: (len(p["prompt"]), p["task_id"]))[:count]


def sample_completions(model, tokenizer, problems, seeds, max_new_tokens):
    """One sampled completion of every problem per seed (``SAMPLING``), its code by :func:`extract_code`:
    ``{seed: [completion per problem]}``."""
    tokenizer.padding_side = "left"
    inputs = tokenizer([humaneval_prompt(tokenizer, p) for p in problems], return_tensors="pt", padding=True)
    completions = {}
    for seed in seeds:
        seed_everything(seed)
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=True,
                **SAMPLING,
                pad_token_id=tokenizer.pad_token_id,
                stop_strings=STOP,
                tokenizer=tokenizer,
            )
        texts = tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        completions[seed] = [extract_code(FENCE + t) for t in texts]
    return completions


def proportion(successes: int, n: int) -> dict:
    """``{"k", "n", "value", "low", "high"}``: a proportion with its 95 % Wilson interval."""
    low, high = wilson_interval(successes, n)
    return {"k": successes, "n": n, "value": successes / n, "low": low, "high": high}


def mc_scores(correct: Mapping[str, Sequence[bool]]) -> dict[str, dict]:
    """Each method's accuracy with its Wilson interval, from per-item right/wrong lists."""
    return {method: proportion(int(sum(map(bool, right))), len(right)) for method, right in correct.items()}


def mc_correct(questions: Sequence[Mapping], replies, letter_logprobs, sums, counts) -> dict[str, list[bool]]:
    """Per item, right or wrong by each of the three methods (an unparseable reply is wrong)."""
    answers = [q["answer"] for q in questions]
    return {
        "letter (generated)": [parse_letter(r) == a for r, a in zip(replies, answers)],
        "letter (log-prob)": [argmax(lp) == a for lp, a in zip(letter_logprobs, answers)],
        "answer (per token)": [
            argmax([s / c for s, c in zip(ss, cs)]) == a for ss, cs, a in zip(sums, counts, answers)
        ],
    }


def humaneval_score(passed: Mapping[int, Sequence[bool]]) -> dict:
    """pass@1 (unbiased estimator, the mean over problems) with a Wilson interval over all samples, from
    ``{seed: [passed per problem]}``."""
    runs = list(passed.values())
    n, problems = len(runs), len(runs[0])
    per_problem = [sum(run[i] for run in runs) for i in range(problems)]
    score = proportion(sum(per_problem), n * problems)
    score["value"] = sum(pass_at_k(n, c, 1) for c in per_problem) / problems
    return score


def score_model(name: str, model, tokenizer, generated, written, humaneval, seeds, max_new_tokens) -> dict:
    """Every suite for one model: ``{suite: {method: proportion}}`` plus the model's card scores."""
    card: dict = {}
    tokenizer.padding_side = "left"
    for suite, questions in (("MC generated", generated), ("MC written", written)):
        replies, letter_logprobs = letter_answers(model, tokenizer, questions)
        sums, counts = option_logprobs(model, tokenizer, questions)
        card[suite] = mc_scores(mc_correct(questions, replies, letter_logprobs, sums, counts))
    completions = sample_completions(model, tokenizer, humaneval, seeds, max_new_tokens)
    passed = {
        s: [run_humaneval(p, c, timeout=5).status == "passed" for p, c in zip(humaneval, cs)]
        for s, cs in completions.items()
    }
    card["HumanEval"] = {"pass@1": humaneval_score(passed)}
    return card


def card_scores(folder: Path) -> dict:
    """A course model's own task metric, from the ``course_model.json`` in its folder: ``{metric: proportion}`` from
    its ``"headline"`` (value with a Wilson interval) and ``{"task": description}``; {} when there is no such file."""
    path = Path(folder) / "course_model.json"
    if not path.exists():
        return {}
    info = json.loads(path.read_text(encoding="utf-8"))
    found = {}
    headline = info.get("headline")
    if isinstance(headline, Mapping) and "metric" in headline:
        found[str(headline["metric"])] = {k: headline[k] for k in ("value", "low", "high") if k in headline}
    task = info.get("scores", {}).get("task") if isinstance(info.get("scores"), Mapping) else None
    if task:
        found["task"] = str(task)
    return found


def _cell(value) -> str:
    if isinstance(value, Mapping) and {"value", "low", "high"} <= set(value):
        return f"{value['value']:.2f} [{value['low']:.2f}, {value['high']:.2f}]"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def table(cards: Mapping[str, Mapping]) -> list[dict]:
    """One row per model: ``"suite / method": "0.42 [0.33, 0.51]"`` and the card's own task metric."""
    rows = []
    for name, card in cards.items():
        row = {"model": name}
        for suite, methods in card.items():
            if suite == "task metrics":
                row.update({f"own task: {k}": _cell(v) for k, v in methods.items()})
                continue
            for method, p in methods.items():
                row[f"{suite} / {method}"] = _cell(p)
        rows.append(row)
    return rows


def markdown(rows: Sequence[Mapping]) -> str:
    columns = list(dict.fromkeys(c for row in rows for c in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def card_dir(mode: str | None = None) -> Path:
    """Where the report card of ``mode`` (default: the current one, "full" or "smoke") is kept: a smoke run
    (``make test``) must never replace the full-mode card a learner's notebook 22 shows."""
    return asset_home() / "report_card" / (mode or mode_name())


def load_card() -> dict:
    """The cards written by ``python -m utils.course.report_card`` in this mode (``{model: card}``), {} when it has
    not run."""
    path = card_dir() / "card.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def suite_sizes() -> dict:
    """The suite sizes of notebook 22 (full or smoke mode)."""
    return {
        "per_kind": scaled(full=20, smoke=2),
        "n_written": scaled(full=60, smoke=6),
        "humaneval": scaled(full=10, smoke=2),
        "seeds": scaled(full=4, smoke=2),
        "max_new_tokens": scaled(full=96, smoke=16),
    }
