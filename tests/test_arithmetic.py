"""utils.arithmetic is notebook 21's problem generator and rewards: proven equal to the notebook's cells."""

from __future__ import annotations

import random
import re

import pytest

from tests.notebook_code import NOTEBOOKS, run_cells
from utils import arithmetic

NOTEBOOK = NOTEBOOKS / "21_reasoning_and_rewards.ipynb"


@pytest.fixture(scope="module")
def notebook():
    return run_cells(NOTEBOOK, ["def make_problem(", "def extract_answer("], {"random": random, "re": re})


def test_problems_equal_the_notebooks(notebook):
    for seed, levels in ((0, [1, 2]), (1, [1, 2, 3]), (7, [3])):
        assert arithmetic.make_problems(2000, levels, seed) == notebook["make_problems"](2000, levels, seed)


def test_rewards_equal_the_notebooks_on_hand_cases_and_samples(notebook):
    cases = [
        "3 + 4 = 7\nAnswer: 7",
        "Answer: 7",
        "The answer is 7.",
        "Answer: 8",
        "Answer: 7\nI hope this helps!",
        "Answer: 5\nAnswer: 7",
        "Answer: -2",
        "Answer: 7.",
        "Answer: 7.5",
        "Answer: 7,000",
        "",
        "Answer:7 ",
        "x\nAnswer: 07\n",
        "answer: 7",
        " Answer: 7",
    ]
    rng = random.Random(0)
    cases += ["".join(rng.choice("Answer: 7-.\n x0") for _ in range(rng.randint(0, 20))) for _ in range(3000)]
    for completion in cases:
        for answer in (7, -2, 0):
            assert arithmetic.reward(completion, answer) == notebook["reward"](completion, answer), completion
        assert arithmetic.extract_answer(completion) == notebook["extract_answer"](completion)


def test_worked_solutions_are_right_and_score_full_reward():
    for problem in arithmetic.make_problems(500, [1, 2, 3], seed=3):
        solution = arithmetic.worked_solution(problem)
        assert arithmetic.reward(solution, problem["answer"]) == 1.25, (problem, solution)
    assert (
        arithmetic.worked_solution(
            {
                "question": "Ana has 3 coins, then gets 2 more, then gives away 4. How many coins does Ana have now?",
                "answer": 1,
            }
        )
        == "3 + 2 = 5. 5 - 4 = 1.\nAnswer: 1"
    )


def test_a_wrong_answer_or_a_foreign_question_is_refused():
    with pytest.raises(ValueError, match="differs from the answer"):
        arithmetic.worked_solution(
            {"question": "Ana has 3 coins, then gets 2 more. How many coins does Ana have now?", "answer": 4}
        )
    with pytest.raises(ValueError, match="not a generated arithmetic problem"):
        arithmetic.worked_solution({"question": "What is 2 + 2?", "answer": 4})


def test_a_broken_reward_is_caught(notebook):
    # a lenient reader (any number after "Answer:") differs from the notebook's on "Answer: 7.5"
    def lenient(completion, answer):
        found = re.findall(r"Answer:\s*(-?\d+)", completion)
        return (1.0 if found and int(found[-1]) == answer else 0.0) + arithmetic.format_reward(completion)

    assert lenient("Answer: 7.5", 7) != notebook["reward"]("Answer: 7.5", 7)
