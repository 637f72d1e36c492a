"""Notebook 20's JSON field-extraction task: the prompt and the scorer, for the notebooks and course models reusing it.

Notebook 20 writes ``to_messages`` and ``score_reply`` in the open; ``tests/test_extraction.py`` proves these equal
to the notebook's cells on every training and test example and on hand-written replies.
"""

from __future__ import annotations

import json
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "sft_extract"
MISSING = object()


def context_of(example: dict, articles: dict[str, dict]) -> str:
    """The article text the example asks about, cut where the example says (``articles``: title -> wiki row)."""
    return articles[example["title"]]["extract"][: example["context_chars"]]


def to_messages(example: dict, articles: dict[str, dict], with_answer: bool = True) -> list[dict]:
    """The chat of one example: the instruction and the text; with the expected JSON as the assistant's reply."""
    messages = [{"role": "user", "content": f"{example['instruction']}\n\nText: {context_of(example, articles)}"}]
    if with_answer:
        messages.append({"role": "assistant", "content": example["answer"]})
    return messages


def first_json_object(text: str) -> dict | None:
    """The first ``{...}`` in ``text`` that parses as a JSON object, or None."""
    decoder = json.JSONDecoder()
    for start in [i for i, char in enumerate(text) if char == "{"]:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def score_reply(reply: str, answer: str) -> dict:
    """Scores of one reply against the expected answer (a JSON string).

    ``valid``: the whole reply is a JSON object with exactly the expected fields; ``field_accuracy``: the share of
    fields whose value (and type) is right in the first JSON object of the reply; ``exact``: valid and all right;
    plus ``"<field> right"`` for each field.
    """
    expected = json.loads(answer)
    try:
        whole = json.loads(reply)
    except json.JSONDecodeError:
        whole = None
    valid = isinstance(whole, dict) and set(whole) == set(expected)
    found = first_json_object(reply) or {}
    right = {
        field: found.get(field, MISSING) == value and type(found.get(field)) is type(value)
        for field, value in expected.items()
    }
    return {
        "valid": valid,
        "field_accuracy": sum(right.values()) / len(right),
        "exact": valid and all(right.values()),
        **{f"{field} right": ok for field, ok in right.items()},
    }
