"""Notebook 21's arithmetic word problems and rewards, for the notebooks and course models that reuse them.

Notebook 21 writes these in the open (the generator, the anchored ``Answer:`` reader and the rewards); this module
is the same code for later lessons (preference pairs, tool calls, the GRPO course model), and
``tests/test_arithmetic.py`` proves it equal to the notebook's cells on thousands of problems and on the hand cases.
"""

from __future__ import annotations

import random
import re

NAMES = ["Tom", "Ana", "Sam", "Lea", "Max", "Zoe", "Ben", "Mia"]
ITEMS = ["apples", "marbles", "stickers", "coins", "books", "shells"]

# A whole line "Answer: <integer>" (an optional final full stop): "Answer: 7.5" and "Answer: 7,000" are not 7.
ANSWER = re.compile(r"^Answer:\s*(-?\d+)\.?\s*$", re.MULTILINE)
FINAL_LINE = re.compile(r"(?:^|\n)Answer:\s*-?\d+\.?\s*$")

STEP_BY_STEP = "{question}\nThink step by step, then end with a line: Answer: <number>"


def make_problem(rng: random.Random, level: int) -> dict:
    """One story with ``level`` operations: ``{"question", "answer", "level"}``; the answer is tracked as it is written."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    count = rng.randint(2, 9)
    parts, answer = [f"{name} has {count} {item}"], count
    for _ in range(level):
        k = rng.randint(1, 9)
        if rng.random() < 0.5 or answer - k < 0:
            parts.append(f"gets {k} more")
            answer += k
        else:
            parts.append(f"gives away {k}")
            answer -= k
    question = ", then ".join(parts) + f". How many {item} does {name} have now?"
    return {"question": question, "answer": answer, "level": level}


def make_problems(n: int, levels: list[int], seed: int) -> list[dict]:
    """``n`` problems cycling through ``levels``, reproducible from ``seed`` (notebook 21: train seed 0, test seed 1)."""
    rng = random.Random(seed)
    return [make_problem(rng, levels[i % len(levels)]) for i in range(n)]


def worked_solution(problem: dict) -> str:
    """A correct step-by-step reply written from the question itself: "3 + 5 = 8. 8 - 1 = 7.\\nAnswer: 7".

    Raises ValueError when the question is not one :func:`make_problem` writes.
    """
    found = re.match(r"\w+ has (\d+) \w+((?:, then (?:gets \d+ more|gives away \d+))*)\. How many", problem["question"])
    if not found:
        raise ValueError(f"not a generated arithmetic problem: {problem['question']!r}")
    value, steps = int(found.group(1)), []
    for verb, k in re.findall(r"(gets|gives away) (\d+)", found.group(2)):
        new = value + int(k) if verb == "gets" else value - int(k)
        steps.append(f"{value} {'+' if verb == 'gets' else '-'} {k} = {new}.")
        value = new
    if value != problem["answer"]:
        raise ValueError(f"worked value {value} differs from the answer {problem['answer']}")
    return " ".join(steps) + f"\nAnswer: {value}"


def extract_answer(completion: str) -> int | None:
    """The integer on the last whole ``Answer:`` line, or None."""
    found = ANSWER.findall(completion)
    return int(found[-1]) if found else None


def correctness_reward(completion: str, answer: int) -> float:
    return 1.0 if extract_answer(completion) == answer else 0.0


def format_reward(completion: str) -> float:
    return 0.25 if FINAL_LINE.search(completion.strip()) else 0.0


def reward(completion: str, answer: int) -> float:
    """Notebook 21's reward: 1 for the right answer on a whole Answer line, plus 0.25 when that line ends the reply."""
    return correctness_reward(completion, answer) + format_reward(completion)


NUMBER = re.compile(r"-?\d+")


def lenient_reward(completion: str, answer: int) -> float:
    """Notebook 21's careless verifier (section 5): 1 when the right number appears anywhere in the reply as a whole
    number. It also pays wrong work whose steps pass through the answer: the loophole of the reward-hacking lesson."""
    return 1.0 if str(answer) in NUMBER.findall(completion) else 0.0
