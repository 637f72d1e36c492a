"""Notebook 25's retrieval, constrained decoding and tool-call code, run from the notebook's own cells.

- retrieval: ``search`` (FAISS) and ``recall_at_k`` against brute-force search on random vectors; ``chunk_spans`` keeps
  whole sentences, in order, within the word limit;
- constrained decoding: on random logits (hypothesis: random fields, seeds, and scores biased towards quotes,
  backslashes, braces, digits, ``null`` and the end token) every step keeps a valid prefix and every reply is a
  complete record of the schema within ``max_reply_tokens``; inside ``generate`` on a tiny random Llama with
  SmolLM2's tokenizer too; the token texts concatenate to the decoded reply;
- tool calls: ``parse_tool_call`` on hand cases (malformed ones included), ``calculator`` against Python on random
  integer expressions and refusing anything but arithmetic, ``TOOL_TEMPLATE`` equal to SmolLM2's template without
  tools on random conversations and rendering tools and calls with them.
Each check also runs on broken copies of a cell (one line replaced), which must fail. Tests that need SmolLM2's
tokenizer are skipped when the asset home lacks it.
"""

import ast
import collections
import json
import operator
import re

import faiss
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.utils import get_json_schema

from tests.notebook_code import NOTEBOOKS, notebook_cell
from tests.tiny_models import tiny_llama_config
from utils import asset_home

NOTEBOOK = NOTEBOOKS / "25_retrieval_and_tools.ipynb"
SMOLLM2 = asset_home() / "models" / "SmolLM2-135M-Instruct"
needs_smollm2 = pytest.mark.skipif(not (SMOLLM2 / ".complete").is_file(), reason="SmolLM2 not in the asset home")
BASE = {
    "ast": ast,
    "collections": collections,
    "json": json,
    "np": np,
    "operator": operator,
    "re": re,
    "torch": torch,
    "faiss": faiss,
    "get_json_schema": get_json_schema,
    "LogitsProcessor": LogitsProcessor,
}


def define(markers, broken=None, namespace=None):
    """The definitions (functions, classes, UPPER_CASE constants) of the cells holding ``markers``, in order.

    ``broken`` maps a marker to ``(old, new)`` replacements; each ``old`` must occur exactly once in its cell.
    """
    namespace = dict(BASE) if namespace is None else namespace
    for marker in markers:
        source = notebook_cell(NOTEBOOK, marker)
        for old, new in (broken or {}).get(marker, ()):
            assert source.count(old) == 1, f"the cell {marker!r} changed: {old!r} is not in it once"
            source = source.replace(old, new)
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.startswith("%")))
        tree.body = [
            node
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))
            or (isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets))
        ]
        exec(compile(tree, f"{NOTEBOOK.name}[{marker}]", "exec"), namespace)
    return namespace


# ---------------------------------------------------------------- retrieval

RETRIEVAL = ["def search(", "def chunk_spans("]


def unit_vectors(rng, n, dim):
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def check_recall(nb, seed):
    rng = np.random.default_rng(seed)
    items, queries = unit_vectors(rng, 200, 16), unit_vectors(rng, 30, 16)
    index = faiss.IndexFlatIP(16)
    index.add(items)
    ranked = nb["search"](index, queries, 10)
    order = np.argsort(-(queries @ items.T), axis=1)  # brute force: every item scored, best first
    brute = order[:, :10]
    gold = [row[rng.integers(0, 12)] if rng.random() < 0.8 else rng.integers(0, 200) for row in order]
    for k in (1, 2, 3, 5, 10):
        expected = np.mean([g in set(row[:k].tolist()) for g, row in zip(gold, brute)])
        assert nb["recall_at_k"](ranked, gold, k) == pytest.approx(expected), k


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_recall_at_k_matches_brute_force_search(seed):
    check_recall(define(RETRIEVAL), seed)


@pytest.mark.parametrize(
    "variant",
    [
        ("def search(", ("list(ranked[:k])", "list(ranked[:k - 1])")),  # one result too few
        ("def search(", ("list(ranked[:k])", "list(ranked[1:k + 1])")),  # skips the best result
        ("def search(", ("return ids", "return ids[:, ::-1]")),  # worst first
    ],
)
def test_broken_retrieval_is_caught(variant):
    marker, replacement = variant
    nb = define(RETRIEVAL, {marker: [replacement]})
    with pytest.raises(AssertionError):
        for seed in range(10):
            check_recall(nb, seed)


def test_recall_at_k_hand_cases():
    nb = define(RETRIEVAL)
    ranked = [[4, 2, 9], [1, 5, 7], [3, 8, 6]]
    assert [nb["recall_at_k"](ranked, [2, 7, 0], k) for k in (1, 2, 3)] == [0.0, 1 / 3, 2 / 3]


sentences = st.lists(
    st.builds(
        lambda words, end: " ".join(words) + end,
        st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "x1"]), min_size=1, max_size=30),
        st.sampled_from([".", "!", "?"]),
    ),
    min_size=1,
    max_size=12,
)


@given(sentences=sentences, max_words=st.integers(5, 60))
@settings(max_examples=100, deadline=None)
def test_chunks_are_whole_sentences_in_order_within_the_limit(sentences, max_words):
    text = " ".join(sentences)
    spans = define(RETRIEVAL)["chunk_spans"](text, max_words=max_words)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] <= b[0] and text[a[1] : b[0]].strip() == "" for a, b in zip(spans, spans[1:]))
    chunks = [text[s:e] for s, e in spans]
    assert " ".join(chunks) == text  # nothing lost, nothing repeated (sentences are joined by one space)
    for chunk in chunks:
        assert len(chunk.split()) <= max_words or chunk in sentences  # over the limit only when one sentence is


# ---------------------------------------------------------------- constrained decoding

CONSTRAINT = ["TOPICS = [", "def next_allowed(", "class TokenTable:", "def allowed_mask("]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(SMOLLM2), padding_side="left")


@pytest.fixture(scope="module")
def table(tokenizer):
    return define(CONSTRAINT)["TokenTable"](tokenizer)


BIASES = {
    "none": None,
    "quotes": '"',
    "backslashes": "\\",
    "braces": "}",
    "digits": "0123456789",
    "null": "n",
    "commas": ",",
    "newlines": "\n",
}


def decode_random(nb, table, fields, seed, bias):
    """Constrained decoding with random scores (optionally raised for tokens holding one of ``bias``'s characters and
    for the end token); checks that every step keeps a valid prefix; returns (text, ended within the bound)."""
    parts = nb["schema_parts"](fields)
    rng = np.random.default_rng(seed)
    boost = torch.zeros(len(table.strings))
    if bias is not None:
        boost = torch.tensor([4.0 if any(c in s for c in bias) else 0.0 for s in table.strings])
        boost[table.eos_token_id] = 4.0
    ids = []
    for _ in range(nb["max_reply_tokens"](parts)):
        scores = torch.from_numpy(rng.standard_normal(len(table.strings)).astype(np.float32)) + boost
        token = int(scores.masked_fill(~nb["allowed_mask"](table, parts, ids), -torch.inf).argmax())
        if token == table.eos_token_id:
            return "".join(table.strings[i] for i in ids), True
        ids.append(token)
        nb["next_allowed"](parts, "".join(table.strings[i] for i in ids))  # raises on an invalid prefix
    return "".join(table.strings[i] for i in ids), False


def check_record(text, ended, fields, topics):
    """Independent of the notebook: the reply is a complete JSON record of the schema."""
    assert ended, f"no end within the bound: {text!r}"
    value = json.loads(text)
    assert list(value) == fields, text
    if "name" in value:
        assert isinstance(value["name"], str) and 1 <= len(value["name"]) <= 40, text
    if "year" in value:
        assert value["year"] is None or (type(value["year"]) is int and 1 <= value["year"] <= 9999), text
    if "topic" in value:
        assert value["topic"] in topics, text


fields_strategy = st.permutations(["name", "year", "topic"]).flatmap(
    lambda p: st.integers(1, 3).map(lambda n: list(p[:n]))
)


@pytest.fixture(scope="module")
def constraint():
    return define(CONSTRAINT)


@needs_smollm2
@given(fields=fields_strategy, seed=st.integers(0, 2**32 - 1), bias=st.sampled_from(sorted(BIASES)))
@settings(max_examples=60, deadline=None)
def test_constrained_decoder_never_leaves_the_schema_on_random_logits(constraint, table, fields, seed, bias):
    text, ended = decode_random(constraint, table, fields, seed, BIASES[bias])
    check_record(text, ended, fields, constraint["TOPICS"])


BROKEN_CONSTRAINTS = {
    "a string lets quotes through": {"class TokenTable:": [("c in '\"\\\\'", "c in '\\\\'")]},
    "a year without a digit limit": {"def allowed_mask(": [(" and slot[1] < 4", "")]},
    "no end token once complete": {"def allowed_mask(": [('if slot == "end":', 'if slot == "never":')]},
    "a choice that forgets the closing quote": {
        "def next_allowed(": [("[option[len(chars):] + after", "[option[len(chars):]")]
    },
}


@needs_smollm2
@pytest.mark.parametrize("variant", sorted(BROKEN_CONSTRAINTS))
def test_broken_constraints_are_caught(tokenizer, table, variant):
    broken = BROKEN_CONSTRAINTS[variant]
    nb = define(CONSTRAINT, broken)
    used_table = nb["TokenTable"](tokenizer) if "class TokenTable:" in broken else table
    with pytest.raises((AssertionError, ValueError, json.JSONDecodeError)):
        for seed in range(40):
            for bias in sorted(BIASES):
                fields = [["name", "year", "topic"], ["topic", "name"], ["year"]][seed % 3]
                check_record(*decode_random(nb, used_table, fields, seed, BIASES[bias]), fields, nb["TOPICS"])


@needs_smollm2
def test_token_texts_concatenate_to_the_decoded_text(tokenizer, table):
    rng = np.random.default_rng(0)
    usable = [i for ids in table.by_text.values() for i in ids]
    for _ in range(300):
        ids = [usable[i] for i in rng.integers(0, len(usable), size=8)]
        assert tokenizer.decode(ids) == "".join(table.strings[i] for i in ids)


@needs_smollm2
def test_next_allowed_hand_cases():
    nb = define(CONSTRAINT)
    parts = nb["schema_parts"](["name", "year", "topic"])
    assert nb["next_allowed"](parts, "") == (None, ['{"name": "'])
    assert nb["next_allowed"](parts, '{"name": "') == (("string", 40), [])  # a name holds at least one character
    assert nb["next_allowed"](parts, '{"name": "Ab') == (("string", 38), ['", "year": '])
    assert nb["next_allowed"](parts, '{"name": "Ab", "year": ') == (("digits", 0), ['null, "topic": "'])
    assert nb["next_allowed"](parts, '{"name": "Ab", "year": 1975, "topic": "ph')[1] == [
        'ilosophy"}',
        'ysical science"}',
    ]
    assert nb["next_allowed"](parts, '{"name": "Ab", "year": null, "topic": "arts"}') == ("end", [])
    for invalid in [
        '{"nam ',
        '{"name": "a\\',
        '{"name": "Ab", "year": 0',
        '{"name": "Ab", "year": 12345',
        '{"name": "Ab", "year": nil',
        '{"name": "Ab", "year": 1, "topic": "sport"',
        '{"name": ""',
        '{"name": "Ab", "year": 1, "topic": "arts"} ',
    ]:
        with pytest.raises(ValueError, match="not a valid prefix|after the end"):
            nb["next_allowed"](parts, invalid)


def tiny_llama(tokenizer, seed):
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(tiny_llama_config(tokenizer)).eval()


def generate_records(tokenizer, table, nb, seed):
    model = tiny_llama(tokenizer, seed)
    fields = [["name", "year", "topic"], ["topic"], ["year", "name"]]
    schemas = [nb["schema_parts"](f) for f in fields]
    prompts = ["Hi", "A longer prompt, so that the batch needs left padding", "Third"]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    processor = nb["JsonSchemaProcessor"](table, schemas, batch["input_ids"].shape[1])
    with torch.no_grad():
        out = model.generate(
            **batch,
            logits_processor=LogitsProcessorList([processor]),
            do_sample=True,
            max_new_tokens=max(nb["max_reply_tokens"](s) for s in schemas),
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[:, batch["input_ids"].shape[1] :]
    for row, f in zip(new.tolist(), fields):
        ended = tokenizer.eos_token_id in row
        check_record(tokenizer.decode(row, skip_special_tokens=True), ended, f, nb["TOPICS"])


@needs_smollm2
def test_the_processor_inside_generate(tokenizer, table):
    nb = define(CONSTRAINT)
    for seed in range(3):
        generate_records(tokenizer, table, nb, seed)


@needs_smollm2
def test_a_processor_that_misreads_the_prompt_length_is_caught(tokenizer, table):
    nb = define(
        CONSTRAINT,
        {"def allowed_mask(": [("input_ids[row, self.prompt_length:]", "input_ids[row, self.prompt_length - 1:]")]},
    )
    with pytest.raises(ValueError):
        generate_records(tokenizer, table, nb, 0)


# ---------------------------------------------------------------- tool calls

TOOLS = ["def calculator(", "def parse_tool_call("]
CALL = '<tool_call>{"name": "calculator", "arguments": {"expression": "%s"}}</tool_call>'
PARSER_CASES = [
    (CALL % "3 + 4", {"name": "calculator", "arguments": {"expression": "3 + 4"}}, None),
    ("Sure. " + CALL % "3+4" + " Done.", {"name": "calculator", "arguments": {"expression": "3+4"}}, None),
    (
        "<tool_call>\n" + (CALL % "1 - 2")[11:-12] + "\n</tool_call>",
        {"name": "calculator", "arguments": {"expression": "1 - 2"}},
        None,
    ),
    (CALL % "1 + 1" + CALL % "2 + 2", {"name": "calculator", "arguments": {"expression": "1 + 1"}}, None),  # the first
    (CALL % "{1} + 2", {"name": "calculator", "arguments": {"expression": "{1} + 2"}}, None),  # braces in a string
    ("Answer: 7", None, "no tool call"),
    ("", None, "no tool call"),
    ((CALL % "3 + 4")[:-12], None, "unclosed <tool_call>"),
    ("<tool_call>calculator(3 + 4)</tool_call>", None, "call is not JSON"),
    ("<tool_call></tool_call>", None, "call is not JSON"),
    ('<tool_call>["calculator", "3 + 4"]</tool_call>', None, "call needs exactly the keys name and arguments"),
    (
        '<tool_call>{"name": "calculator", "arguments": {"expression": "1"}, "id": 1}</tool_call>',
        None,
        "call needs exactly the keys name and arguments",
    ),
    (
        '<tool_call>{"name": "Calculator", "arguments": {"expression": "1"}}</tool_call>',
        None,
        "unknown tool 'Calculator'",
    ),
    (
        '<tool_call>{"name": "calculator", "arguments": {"expr": "1"}}</tool_call>',
        None,
        "arguments must be ['expression']",
    ),
    (
        '<tool_call>{"name": "calculator", "arguments": {"expression": "1", "x": 2}}</tool_call>',
        None,
        "arguments must be ['expression']",
    ),
    ('<tool_call>{"name": "calculator", "arguments": "1 + 1"}</tool_call>', None, "arguments must be ['expression']"),
    ('<tool_call>{"name": "calculator", "arguments": {}}</tool_call>', None, "arguments must be ['expression']"),
]


def check_parser(nb):
    tools = {"calculator": nb["calculator"]}
    for reply, call, reason in PARSER_CASES:
        assert nb["parse_tool_call"](reply, tools) == (call, reason), reply


def test_tool_call_parser_hand_cases():
    check_parser(define(TOOLS))


@pytest.mark.parametrize(
    "replacement",
    [
        (r'r"<tool_call>(.*?)</tool_call>"', r'r"<tool_call>(.*)</tool_call>"'),  # greedy: two calls break it
        ('set(call) != {"name", "arguments"}', 'not {"name", "arguments"} <= set(call)'),  # extra keys pass
        ('set(call["arguments"]) != expected', 'not expected <= set(call["arguments"])'),  # extra arguments pass
        ('"unclosed <tool_call>" if "<tool_call>" in reply else ', ""),  # one reason for two failures
    ],
)
def test_broken_parsers_are_caught(replacement):
    old, new = replacement
    with pytest.raises(AssertionError):
        check_parser(define(TOOLS, {"def parse_tool_call(": [(old, new)]}))


expressions = st.recursive(
    st.integers(0, 99).map(str),
    lambda inner: st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    max_leaves=8,
)


@given(expression=expressions)
@settings(max_examples=200, deadline=None)
def test_calculator_agrees_with_python_on_integer_arithmetic(expression):
    calculator = define(TOOLS)["calculator"]
    assert calculator(expression) == str(eval(expression))  # the expression is ours, built from integers and + - *


def test_calculator_refuses_anything_but_arithmetic():
    calculator = define(TOOLS)["calculator"]
    assert calculator("7 / 2") == "3.5" and calculator("9 - 12 / 4") == "6" and calculator("-(2 + 3)") == "-5"
    for expression in (
        "__import__('os').getcwd()",
        "open('x')",
        "x + 1",
        "2 ** 10",
        "[1, 2]",
        "'a' * 3",
        "1 if 1 else 2",
    ):
        assert calculator(expression).startswith("error: "), expression
    assert calculator("1 / 0") == "error: division by zero"
    assert calculator("3 +").startswith("error: invalid syntax")


roles = st.lists(st.tuples(st.sampled_from(["user", "assistant"]), st.text(max_size=20)), min_size=1, max_size=5)


@needs_smollm2
@given(turns=roles, system=st.one_of(st.none(), st.text(max_size=20)), generation_prompt=st.booleans())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_tool_template_renders_like_smollm2_without_tools(tokenizer, turns, system, generation_prompt):
    template = define(["TOOL_TEMPLATE = ("])["TOOL_TEMPLATE"]
    messages = ([{"role": "system", "content": system}] if system is not None else []) + [
        {"role": role, "content": content} for role, content in turns
    ]
    assert tokenizer.apply_chat_template(
        messages, chat_template=template, tokenize=False, add_generation_prompt=generation_prompt
    ) == tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


@needs_smollm2
def test_tool_template_renders_tools_calls_and_results(tokenizer):
    nb = define(["TOOL_TEMPLATE = (", "def calculator("])
    messages = [
        {"role": "user", "content": "2 + 2?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"type": "function", "function": {"name": "calculator", "arguments": {"expression": "2 + 2"}}}
            ],
        },
        {"role": "tool", "content": "4"},
    ]
    text = tokenizer.apply_chat_template(
        messages,
        tools=[nb["calculator"]],
        chat_template=nb["TOOL_TEMPLATE"],
        tokenize=False,
        add_generation_prompt=True,
    )
    tools_json = text.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0]
    assert json.loads(tools_json) == get_json_schema(nb["calculator"])
    assert (
        '<|im_start|>assistant\n<tool_call>{"name": "calculator", "arguments": {"expression": "2 + 2"}}</tool_call><|im_end|>'
        in text
    )
    assert text.endswith("<|im_start|>tool\n4<|im_end|>\n<|im_start|>assistant\n")
    assert text.count("<|im_start|>system") == 1
