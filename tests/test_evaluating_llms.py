"""Notebook 22's scoring functions, executed from the cells that define them, and utils.report_card's copies.

- multiple choice: the letter parser on hand cases; ``letter_answers`` on a tiny random Llama (the letters'
  log-probabilities equal an unpadded forward pass, the replies equal one-at-a-time greedy decoding);
  ``option_logprobs`` on a model whose log-probabilities are known in closed form (logits that depend only on the
  previous token), and through the shared question cache equal to full uncached sequences on the tiny Llama; the
  length-normalised choice;
- HumanEval: the chat prompt and the code taken from a reply's first code block; the notebook's hostile programs
  contained by the sandbox (and the write outside its folder happening once the audit hook is off); pass@k against
  the average over every k-subset;
- statistics: the items a paired 5-point comparison needs, against the formula computed here with scipy;
- the report card's scores on hand cases, and a course model card's task metrics.

Each check also runs on a broken copy of the cell (one line replaced), which must fail. No real model is loaded.
"""

import ast
import itertools
import json
import math
import re
import tempfile
import types
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest
import torch

from tests.notebook_code import NOTEBOOKS, notebook_cell
from tests.tiny_models import tiny_llama_config
from utils import asset_home, report_card
from utils.multiple_choice import KINDS, LETTERS
from utils.pass_at_k import pass_at_k as helper_pass_at_k
from utils.sandbox import run_program
from utils.stats import mcnemar_exact

NOTEBOOK = NOTEBOOKS / "22_evaluating_llms.ipynb"
SMOLLM2 = asset_home() / "models" / "SmolLM2-135M-Instruct"
needs_smollm2 = pytest.mark.skipif(not (SMOLLM2 / ".complete").is_file(), reason="SmolLM2 not in the asset home")
BASE = {
    "re": re,
    "torch": torch,
    "math": math,
    "np": np,
    "NormalDist": NormalDist,
    "LETTERS": LETTERS,
    "mcnemar_exact": mcnemar_exact,
    "tempfile": tempfile,
    "Path": Path,
}


def define(marker, broken=(), defs_only=False, namespace=None):
    """Execute the cell containing ``marker`` with each ``(old, new)`` of ``broken`` applied (``old`` must occur
    once); with ``defs_only``, only its imports, assignments of constants and functions (the rest runs the lesson)."""
    source = notebook_cell(NOTEBOOK, marker)
    for old, new in broken:
        assert source.count(old) == 1, f"the cell {marker!r} changed: {old!r} is not in it once; update this variant"
        source = source.replace(old, new)
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.startswith("%")))
    if defs_only:
        tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    namespace = dict(BASE) if namespace is None else namespace
    exec(compile(tree, f"{NOTEBOOK.name}[{marker}]", "exec"), namespace)
    return namespace


MC_CELL, OPTIONS_CELL, STOP_CELL = "LETTER = re.compile", "def option_logprobs(", "CODE_BLOCK = re.compile"
PASS_CELL, POWER_CELL = "def pass_at_k(n, c, k)", "def paired_items_needed("

# ---------------------------------------------------------------------------------------------- the letter parser

PARSE_CASES = [
    ("B", 1),
    ("B. Carbon dioxide", 1),
    ("(C)", 2),
    ("  D", 3),
    ("Answer: D", 3),
    ("answer: A", 0),
    ("The answer is A.", 0),
    ("Carbon dioxide", None),  # the option's text, not its letter
    ("b", None),  # a lower-case letter is a word, not an option
    ("Beta", None),  # a word that starts with B
    ("E", None),
    ("", None),
]


@pytest.mark.parametrize("reply,expected", PARSE_CASES)
def test_the_letter_parser_on_hand_cases(reply, expected):
    cell = define(MC_CELL)
    assert cell["parse_letter"](reply) == expected
    assert report_card.parse_letter(reply) == expected


@pytest.mark.parametrize(
    "broken",
    [
        [("(?![A-Za-z])", "")],  # "Beta" would be B
        [('re.compile(r"', 're.compile(r"(?i)')],  # "b" would be B
        [("LETTER.match(reply)", "re.search(r'([A-D])', reply)")],  # the first capital anywhere
    ],
)
def test_broken_parsers_fail_a_hand_case(broken):
    cell = define(MC_CELL, broken)

    def wrong(reply, expected):
        try:
            return cell["parse_letter"](reply) != expected
        except ValueError:  # "b" is not in LETTERS: a crash is a failure too
            return True

    assert any(wrong(reply, expected) for reply, expected in PARSE_CASES)


# ------------------------------------------------------------------------------- a tiny model, known log-probs


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    if not (SMOLLM2 / ".complete").is_file():
        pytest.skip("SmolLM2 not in the asset home")
    return AutoTokenizer.from_pretrained(str(SMOLLM2), padding_side="left")  # as the notebook loads it


def tiny_llama(tokenizer, seed=0):
    """A random 2-layer Llama over SmolLM2's vocabulary, attention sharp enough that padding mistakes show."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(tiny_llama_config(tokenizer, bos_token_id=None, initializer_range=0.1)).eval()


class PreviousTokenModel(torch.nn.Module):
    """Logits that depend only on the current token: ``log p(next | prev) = log_softmax(E[prev] @ U)[next]``, known
    in closed form whatever the padding or the batch."""

    def __init__(self, vocab_size, rank=6, seed=0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.E = torch.randn(vocab_size, rank, generator=generator)
        self.U = torch.randn(rank, vocab_size, generator=generator)

    def forward(self, input_ids, attention_mask=None, cache=None, use_cache=None, logits_to_keep=0):
        logits = self.E[input_ids] @ self.U
        if logits_to_keep:
            logits = logits[:, -logits_to_keep:]
        return types.SimpleNamespace(
            logits=logits, cache=types.SimpleNamespace(batch_repeat_interleave=lambda repeats: None)
        )  # nothing to cache: logits see one token only

    def logprob(self, previous, token):
        return torch.log_softmax(self.E[previous] @ self.U, -1)[token].item()


QUESTIONS = [
    {"question": "Which planet is closest to the Sun?", "options": ["Earth", "Mercury", "Mars", "Venus"], "answer": 1},
    {"question": "What is 7 times 8?", "options": ["54", "56", "64", "the product of seven and eight"], "answer": 1},
    {"question": "Who wrote Hamlet?", "options": ["Shakespeare", "Goethe", "Dante", "Homer"], "answer": 0},
]


def expected_option_logprobs(model, tokenizer, question):
    context = tokenizer.apply_chat_template(
        [{"role": "user", "content": question["question"]}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer.encode(context, add_special_tokens=False)
    sums, counts = [], []
    for option in question["options"]:
        option_ids = tokenizer.encode(option, add_special_tokens=False)
        previous = [ids[-1], *option_ids[:-1]]
        sums.append(sum(model.logprob(p, t) for p, t in zip(previous, option_ids)))
        counts.append(len(option_ids))
    return sums, counts


def test_option_logprobs_equal_the_closed_form(tokenizer):
    model = PreviousTokenModel(len(tokenizer))
    expected = [expected_option_logprobs(model, tokenizer, q) for q in QUESTIONS]
    for option_logprobs in (define(OPTIONS_CELL)["option_logprobs"], report_card.option_logprobs):
        sums, counts = option_logprobs(model, tokenizer, QUESTIONS)
        for (want_sums, want_counts), got_sums, got_counts in zip(expected, sums, counts):
            assert got_counts == want_counts
            assert got_sums == pytest.approx(want_sums, abs=1e-4)


@pytest.mark.parametrize(
    "broken",
    [
        [
            (
                "torch.cat([context_out.logits[:, -1:].expand(len(options), 1, -1), option_logits[:, :-1]], dim=1)",
                "option_logits",
            )
        ],  # no shift: token t scored by the logits at t
        [("picked[row, :len(o)].sum()", "picked[row].sum()")],  # padding counted into the shorter options
    ],
)
def test_a_broken_option_scorer_misses_the_closed_form(tokenizer, broken):
    model = PreviousTokenModel(len(tokenizer))
    sums, counts = define(OPTIONS_CELL, broken)["option_logprobs"](model, tokenizer, QUESTIONS)
    expected = [expected_option_logprobs(model, tokenizer, q) for q in QUESTIONS]
    assert any(s != pytest.approx(e[0], abs=1e-4) or c != e[1] for s, c, e in zip(sums, counts, expected))


def full_sequence_logprobs(model, tokenizer, question):
    """Each option scored by one uncached forward pass over question + option, no padding."""
    context = tokenizer.apply_chat_template(
        [{"role": "user", "content": question["question"]}], tokenize=False, add_generation_prompt=True
    )
    context_ids = tokenizer.encode(context, add_special_tokens=False)
    sums = []
    for option in question["options"]:
        option_ids = tokenizer.encode(option, add_special_tokens=False)
        ids = torch.tensor([context_ids + option_ids])
        with torch.no_grad():
            logprobs = model(input_ids=ids).logits[0].log_softmax(-1)
        sums.append(sum(logprobs[len(context_ids) - 1 + t, tok].item() for t, tok in enumerate(option_ids)))
    return sums


def test_the_shared_question_cache_equals_full_sequences_on_a_real_decoder(tokenizer):
    model = tiny_llama(tokenizer)
    expected = [full_sequence_logprobs(model, tokenizer, q) for q in QUESTIONS]
    for option_logprobs in (define(OPTIONS_CELL)["option_logprobs"], report_card.option_logprobs):
        sums, _ = option_logprobs(model, tokenizer, QUESTIONS)
        for got, want in zip(sums, expected):
            assert got == pytest.approx(want, abs=1e-4)


def test_options_that_ignore_the_cache_are_caught(tokenizer):
    model = tiny_llama(tokenizer)
    broken = define(OPTIONS_CELL, [(", cache=cache).logits", ").logits")])["option_logprobs"]
    sums, _ = broken(model, tokenizer, QUESTIONS)
    expected = [full_sequence_logprobs(model, tokenizer, q) for q in QUESTIONS]
    assert any(got != pytest.approx(want, abs=1e-4) for got, want in zip(sums, expected))


def unpadded_letter_logprobs_and_reply(model, tokenizer, mc_prompt, question, max_new_tokens):
    letter_ids = [tokenizer.encode(letter, add_special_tokens=False)[0] for letter in LETTERS]
    inputs = tokenizer(mc_prompt(tokenizer, question), return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits[0, -1]
        out = model.generate(
            **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    reply = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    return logits.log_softmax(-1)[letter_ids].tolist(), reply


def test_letter_answers_equal_an_unpadded_forward_pass_and_greedy_decoding(tokenizer):
    model = tiny_llama(tokenizer)
    cell = define(MC_CELL)
    expected = [unpadded_letter_logprobs_and_reply(model, tokenizer, cell["mc_prompt"], q, 3) for q in QUESTIONS]
    for letter_answers in (cell["letter_answers"], report_card.letter_answers):
        replies, letter_logprobs = letter_answers(model, tokenizer, QUESTIONS, max_new_tokens=3, batch_size=2)
        assert replies == [reply for _, reply in expected]
        for got, (want, _) in zip(letter_logprobs, expected):
            assert got == pytest.approx(want, abs=1e-4)
    assert report_card.mc_prompt(tokenizer, QUESTIONS[0]) == cell["mc_prompt"](tokenizer, QUESTIONS[0])


@pytest.mark.parametrize(
    "broken",
    [
        [("out.logits[0].float()", "out.logits[-1].float()")],  # the last step's logits, not the first
        [
            (
                "letter_ids = [tokenizer.encode(letter, add_special_tokens=False)[0]",
                'letter_ids = [tokenizer.encode(" " + letter, add_special_tokens=False)[0]',
            )
        ],  # " A", another token
    ],
)
def test_broken_letter_scorers_miss_the_forward_pass(tokenizer, broken):
    model = tiny_llama(tokenizer)
    cell = define(MC_CELL, broken)
    expected = [unpadded_letter_logprobs_and_reply(model, tokenizer, cell["mc_prompt"], q, 3) for q in QUESTIONS]
    _, letter_logprobs = cell["letter_answers"](model, tokenizer, QUESTIONS, max_new_tokens=3, batch_size=2)
    assert any(got != pytest.approx(want, abs=1e-4) for got, (want, _) in zip(letter_logprobs, expected))


def test_length_normalisation_can_change_the_choice():
    questions = [{"answer": 1}]
    sums, counts = [[-4.0, -6.0, -9.0, -12.0]], [[1, 6, 3, 3]]  # the long option 1 is likelier per token
    right = report_card.mc_correct(questions, ["A"], [[-1.0, -2.0, -3.0, -4.0]], sums, counts)
    assert right == {"letter (generated)": [False], "letter (log-prob)": [False], "answer (per token)": [True]}
    assert report_card.argmax(sums[0]) == 0  # the raw sum picks the shortest
    assert report_card.argmax([1.0, 3.0, 3.0]) == 1  # ties: the first


# ------------------------------------------------------------------------------------------------------ HumanEval

EXTRACT_CASES = [
    ("```python\ndef add(x, y):\n    return x + y\n```\nThis adds.", "\ndef add(x, y):\n    return x + y"),
    ("```\ndef f():\n    pass\n```", "\ndef f():\n    pass"),
    ("Here:\n```python\ndef f():\n    return 1\n```\n```python\nprint(f())\n```", "\ndef f():\n    return 1"),
    ("```python\ndef f():\n    return [1,", "\ndef f():\n    return [1,"),  # cut by the token budget
    ("def f():\n    return 2", "\ndef f():\n    return 2"),  # no code block: the whole reply
    ("```python\nx = '```'\n```", "\nx = '```'"),  # a fence inside a line does not close the block
]


@pytest.mark.parametrize("reply,expected", EXTRACT_CASES)
def test_the_code_of_a_reply_is_its_first_code_block(reply, expected):
    assert define(STOP_CELL)["extract_code"](reply) == expected
    assert report_card.extract_code(reply) == expected


@pytest.mark.parametrize(
    "broken",
    [
        [("(.*?)", "(.*)")],  # greedy: runs on to the last fence
        [("(?:\\n```|$)", "(?:```|$)")],  # a fence anywhere closes the block
        [('return "\\n" + (', "return (")],  # the code glued to the prompt's last line
    ],
)
def test_broken_extraction_fails_a_hand_case(broken):
    cell = define(STOP_CELL, broken)
    assert any(cell["extract_code"](r) != e for r, e in EXTRACT_CASES)


def test_the_humaneval_prompt_asks_in_a_chat_turn(tokenizer):
    problem = {"prompt": 'def add(x, y):\n    """Add."""\n'}
    prompt = define(STOP_CELL)["humaneval_prompt"](tokenizer, problem)
    assert prompt == report_card.humaneval_prompt(tokenizer, problem)
    assert "```python\n" + problem["prompt"] + "```<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n```python\n")  # the reply pre-filled with a code fence


def hostile_programs(tmp_path):
    """The notebook's attack programs, with the file outside pointed into ``tmp_path``."""
    tree = ast.parse(notebook_cell(NOTEBOOK, "attacks = {"))
    tree.body = [node for node in tree.body if isinstance(node, ast.Assign)]
    namespace = dict(BASE, tempfile=types.SimpleNamespace(mkdtemp=lambda prefix: str(tmp_path)))
    exec(compile(tree, "attacks", "exec"), namespace)
    return namespace["attacks"], namespace["target"]


def test_the_notebooks_hostile_completion_is_contained(tmp_path):
    attacks, target = hostile_programs(tmp_path)
    assert set(attacks) == {"network", "write outside", "run forever"}
    results = {name: run_program(program, timeout=2) for name, program in attacks.items()}
    assert results["network"].status == "error" and "socket" in results["network"].detail
    assert results["write outside"].status == "error" and "PermissionError" in results["write outside"].detail
    assert results["run forever"].status == "timed out"
    assert not target.exists()
    assert "connected" not in results["network"].stdout_tail
    assert "written" not in results["write outside"].stdout_tail


def test_without_the_audit_hook_the_notebooks_write_outside_happens(tmp_path):
    """The broken variant of the sandbox: the kernel's limits alone do not stop a write outside the folder."""
    attacks, target = hostile_programs(tmp_path)
    result = run_program(attacks["write outside"], timeout=2, python_guard=False)
    assert result.status == "passed" and target.read_text() == "model was here"


def brute_force_pass_at_k(n, c, k):
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(samples, k))
    return sum(any(s) for s in subsets) / len(subsets)


def test_pass_at_k_is_the_average_over_every_k_subset():
    cell = define(PASS_CELL, defs_only=True)
    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                want = brute_force_pass_at_k(n, c, k)
                assert cell["pass_at_k"](n, c, k) == pytest.approx(want, abs=1e-12), (n, c, k)
                assert helper_pass_at_k(n, c, k) == pytest.approx(want, abs=1e-12), (n, c, k)


@pytest.mark.parametrize(
    "broken",
    [
        [("range(n - c + 1, n + 1)", "range(n - c, n + 1)")],  # an off-by-one product
        [("return 1.0 - math.prod(", "return naive_pass_at_k(n, c, k) + 0 * math.prod(")],  # the naive estimate
    ],
)
def test_a_broken_estimator_misses_the_brute_force(broken):
    cell = define(PASS_CELL, broken, defs_only=True)
    assert any(
        cell["pass_at_k"](n, c, k) != pytest.approx(brute_force_pass_at_k(n, c, k), abs=1e-9)
        for n in range(2, 7)
        for c in range(1, n)
        for k in range(2, n + 1)
    )


# ----------------------------------------------------------------------------------------------------- statistics


def connor(delta, psi, alpha=0.05, power=0.8):
    from scipy.stats import norm

    return math.ceil((norm.ppf(1 - alpha / 2) * psi**0.5 + norm.ppf(power) * (psi - delta**2) ** 0.5) ** 2 / delta**2)


def test_items_needed_for_a_paired_difference():
    cell = define(POWER_CELL, defs_only=True)
    for delta, psi in ((0.05, 0.2), (0.05, 0.1), (0.1, 0.3), (0.02, 0.2)):
        assert cell["paired_items_needed"](delta, psi) == connor(delta, psi)
    assert cell["paired_items_needed"](0.05, 0.2) == 626


def test_a_one_sided_power_formula_is_caught():
    cell = define(POWER_CELL, [("inv_cdf(1 - alpha / 2)", "inv_cdf(1 - alpha)")], defs_only=True)
    assert cell["paired_items_needed"](0.05, 0.2) != connor(0.05, 0.2)


def test_simulated_power_is_near_the_target_at_the_formulas_size_and_low_below_it():
    cell = define("def simulated_power(", defs_only=True)
    assert abs(cell["simulated_power"](626, 0.05, 0.2, trials=300, seed=1) - 0.8) < 0.08
    assert cell["simulated_power"](120, 0.05, 0.2, trials=300, seed=1) < 0.35


# --------------------------------------------------------------------------------------------------- report card


def test_mc_items_take_each_kind_and_a_seeded_sample_of_written():
    generated = [{"category": kind, "id": f"{kind}-{i}"} for kind in KINDS for i in range(5)]
    written = [{"id": f"w{i}"} for i in range(10)]
    chosen, drawn = report_card.mc_items(generated, written, per_kind=2, n_written=4)
    assert [q["id"] for q in chosen] == [f"{kind}-{i}" for kind in KINDS for i in range(2)]
    assert len(drawn) == 4 and drawn == report_card.mc_items(generated, written, 2, 4)[1]


def test_humaneval_items_are_the_shortest_prompts():
    problems = [{"task_id": f"HumanEval/{i}", "prompt": "x" * length} for i, length in enumerate([5, 3, 9, 3])]
    assert [p["task_id"] for p in report_card.humaneval_items(problems, 3)] == [
        "HumanEval/1",
        "HumanEval/3",
        "HumanEval/0",
    ]


def test_scores_carry_wilson_intervals_and_pass_at_1_is_the_unbiased_mean():
    scores = report_card.mc_scores({"m": [True, False, False, True]})
    assert scores["m"]["k"] == 2 and scores["m"]["n"] == 4 and scores["m"]["value"] == 0.5
    assert scores["m"]["low"] == pytest.approx(0.15003899, abs=1e-6) and scores["m"]["high"] == pytest.approx(
        0.84996101, abs=1e-6
    )
    he = report_card.humaneval_score({0: [True, False, False], 1: [True, True, False]})
    assert (he["k"], he["n"]) == (3, 6)
    assert he["value"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)


def test_the_table_formats_every_suite_and_the_course_models_own_metric(tmp_path):
    info = {
        "scores": {"task": "extraction", "course model": {"per item": [True]}},
        "headline": {"metric": "exact match", "value": 0.2375, "low": 0.1575, "high": 0.3424},
    }
    (tmp_path / "course_model.json").write_text(json.dumps(info))
    card = {
        "MC written": report_card.mc_scores({"letter (log-prob)": [True, False]}),
        "task metrics": report_card.card_scores(tmp_path),
    }
    (row,) = report_card.table({"m": card})
    assert row == {
        "model": "m",
        "MC written / letter (log-prob)": "0.50 [0.09, 0.91]",
        "own task: exact match": "0.24 [0.16, 0.34]",
        "own task: task": "extraction",
    }
    assert report_card.card_scores(tmp_path / "missing") == {}
    text = report_card.markdown([row])
    assert text.splitlines()[0] == "| model | MC written / letter (log-prob) | own task: exact match | own task: task |"


def test_the_smoke_card_never_replaces_the_full_one(monkeypatch, tmp_path):
    from utils import report_card as card_module

    monkeypatch.setenv("LLM_RETREAT_HOME", str(tmp_path))
    monkeypatch.setenv("LLM_RETREAT_SMOKE", "1")
    smoke = card_module.card_dir()
    monkeypatch.setenv("LLM_RETREAT_SMOKE", "0")
    full = card_module.card_dir()
    assert smoke != full and smoke.name == "smoke" and full.name == "full"
    assert card_module.card_dir("smoke") == smoke
