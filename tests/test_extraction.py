"""utils.extraction is notebook 20's prompt and scorer: proven equal to the notebook's cells."""

from __future__ import annotations

import json
import random

import pytest

from tests.notebook_code import NOTEBOOKS, run_cells
from utils import extraction

NOTEBOOK = NOTEBOOKS / "20_fine_tuning_an_llm.ipynb"


def examples() -> list[dict]:
    rows = []
    for split in ("train", "test"):
        lines = (extraction.DATA_DIR / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        rows += [json.loads(line) for line in lines if line.strip()]
    return rows


@pytest.fixture(scope="module")
def articles():
    # synthetic article texts long enough for every cut: context_of only slices them
    return {row["title"]: {"extract": f"{row['title']} " + "abcdefghij " * 400} for row in examples()}


@pytest.fixture(scope="module")
def notebook(articles):
    # the cell also prints its first training example: give it one
    namespace = {"json": json, "articles": articles, "task_datasets": {"train": examples()[:1]}}
    return run_cells(NOTEBOOK, ["def context_of(", "MISSING = object()"], namespace)


def replies_for(answer: str, rng: random.Random) -> list[str]:
    expected = json.loads(answer)
    first = next(iter(expected))
    return [
        answer,
        json.dumps(expected, indent=2),
        f"Here it is: {answer} Done.",
        answer[:-1],
        "",
        "{}",
        "{not json} " + answer,
        json.dumps({**expected, first: str(expected[first]) + "x"}),
        json.dumps({**expected, "extra": 1}),
        json.dumps({k: str(v) for k, v in expected.items()}),  # right values, wrong types
        "".join(rng.choice('{}":, ab1') for _ in range(rng.randint(0, 30))),
    ]


def test_messages_and_scores_equal_the_notebooks(notebook, articles):
    rng = random.Random(0)
    for example in examples():
        for with_answer in (True, False):
            assert extraction.to_messages(example, articles, with_answer) == notebook["to_messages"](
                example, with_answer
            )
        for reply in replies_for(example["answer"], rng):
            assert extraction.score_reply(reply, example["answer"]) == notebook["score_reply"](reply, example["answer"])


def test_hand_cases():
    answer = '{"year": 1990, "country": "France"}'
    assert extraction.score_reply(answer, answer)["exact"]
    pretty = extraction.score_reply('{\n  "year": 1990,\n  "country": "France"\n}', answer)
    assert pretty["valid"] and pretty["exact"]
    wrapped = extraction.score_reply(f"Sure! {answer}", answer)
    assert not wrapped["valid"] and wrapped["field_accuracy"] == 1.0 and not wrapped["exact"]
    typed = extraction.score_reply('{"year": "1990", "country": "France"}', answer)
    assert typed["valid"] and typed["field_accuracy"] == 0.5 and typed["year right"] is False


def test_a_broken_scorer_is_caught(notebook):
    # a scorer that ignores types counts "1990" as 1990: it differs from the notebook's on that reply
    def untyped(reply, answer):
        found = extraction.first_json_object(reply) or {}
        expected = json.loads(answer)
        return sum(str(found.get(k)) == str(v) for k, v in expected.items()) / len(expected)

    answer, reply = '{"year": 1990}', '{"year": "1990"}'
    assert untyped(reply, answer) != notebook["score_reply"](reply, answer)["field_accuracy"]
