"""utils.multiple_choice: questions built from the kit with answers checked by construction, and the project's
written questions (data/mc_general) with one keyed option among four distinct ones."""

import ast
import json
import operator
import random
import re
from collections import Counter

import pytest

from utils.multiple_choice import (
    CHANCE,
    KINDS,
    WRITTEN,
    check_wiki_questions,
    check_written_question,
    wiki_questions,
    written_questions,
)

TOPICS = ["Arts", "Geography", "History", "Mathematics", "Technology"]


FIRST = [
    "ancient",
    "modern",
    "famous",
    "small",
    "large",
    "early",
    "late",
    "northern",
    "southern",
    "rare",
    "common",
    "new",
]
SECOND = ["tool", "idea", "place", "event", "style", "method", "symbol", "custom", "device", "story", "habit", "game"]


def fake_rows() -> list[dict]:
    """Five topics of twelve articles each (descriptions sharing at most 'of' and the topic), plus traps the
    generator must avoid."""
    rows = [
        {
            "title": f"{topic} item {i}",
            "extract": "...",
            "description": f"{FIRST[i].capitalize()} {SECOND[i]} of {topic.lower()}",
            "topic": topic,
        }
        for topic in TOPICS
        for i in range(12)
    ]
    rows += [
        {"title": "Twin A", "extract": "", "description": "Shared description", "topic": "Arts"},
        {"title": "Twin B", "extract": "", "description": "Shared description", "topic": "Arts"},
        {"title": "Giveaway", "extract": "", "description": "The giveaway of arts", "topic": "Arts"},
        {"title": "No description", "extract": "", "description": "", "topic": "History"},
        {"title": "Elsewhere", "extract": "", "description": "Not in any topic", "topic": "Uncategorized"},
    ]
    return rows


# --- built from the kit (hand-made rows: no assets needed) ---------------------------------------------------------


def test_built_questions_have_their_answers_by_construction():
    rows = fake_rows()
    questions = wiki_questions(rows, per_kind=20, seed=1)
    assert Counter(q["category"] for q in questions) == {kind: 20 for kind in KINDS}
    assert check_wiki_questions(questions, rows) == {}
    by_title = {r["title"]: r for r in rows}
    for question in questions:
        article, correct = by_title[question["source"]], question["options"][question["answer"]]
        expected = {"description->title": "title", "title->description": "description", "title->topic": "topic"}
        assert correct == article[expected[question["category"]]]
        assert len(set(question["options"])) == 4
    sources = [q["source"] for q in questions]
    assert len(sources) == len(set(sources))  # each article asked about once
    # the traps never appear: shared or missing descriptions, Uncategorized articles
    everything = json.dumps(questions)
    for trap in ("Twin A", "Twin B", "Shared description", "No description", "Elsewhere", "Uncategorized"):
        assert trap not in everything
    # a description that names its own article is never the one asked about (it would give the answer away)
    assert not [q for q in questions if q["source"] == "Giveaway" and q["category"] != "title->topic"]
    assert not [q for q in questions if "The giveaway of arts" in q["question"]]


def test_no_description_in_a_question_names_one_of_its_titles():
    """Half the articles have a description that repeats their title ("Sonnet 4: a sonnet 4 of ..."): such a
    description would give its answer away, so it is never asked about and never stands beside its own title."""
    rows = [
        {
            "title": f"{topic} {i}",
            "extract": "",
            "description": f"The {topic.lower()} {i} {FIRST[i]} {SECOND[i]}"
            if i % 2
            else f"{FIRST[i].capitalize()} {SECOND[i]} about {topic.lower()}",
            "topic": topic,
        }
        for topic in TOPICS
        for i in range(12)
    ]
    questions = wiki_questions(rows, per_kind=15, seed=4)
    assert check_wiki_questions(questions, rows) == {}
    for question in questions:
        if question["category"] == "description->title":
            quoted = question["question"].split('"')[1].lower()
            assert not any(f"{title.lower()} " in f"{quoted} " for title in question["options"]), question
        if question["category"] == "title->description":
            assert question["source"].lower() not in " ".join(question["options"]).lower(), question


def test_built_questions_are_seeded_and_do_not_depend_on_row_order():
    rows = fake_rows()
    shuffled = rows[:]
    random.Random(5).shuffle(shuffled)
    assert wiki_questions(rows, per_kind=20, seed=1) == wiki_questions(shuffled, per_kind=20, seed=1)
    assert wiki_questions(rows, per_kind=20, seed=1) != wiki_questions(rows, per_kind=20, seed=2)


def test_each_position_holds_the_answer_equally_often():
    questions = wiki_questions(fake_rows(), per_kind=20, seed=1)
    assert Counter(q["answer"] for q in questions) == {0: 15, 1: 15, 2: 15, 3: 15}
    assert CHANCE == 0.25 and all(len(q["options"]) == 4 for q in questions)


def test_too_few_articles_is_an_error_that_names_the_topic():
    with pytest.raises(ValueError, match=r"not enough usable articles in topic '.*' for 40 "):
        wiki_questions(fake_rows(), per_kind=40)


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (lambda q: q.update(answer=(q["answer"] + 1) % 4), "is not the"),
        (lambda q: q["options"].__setitem__((q["answer"] + 1) % 4, q["options"][q["answer"]]), "duplicate options"),
        (lambda q: q.update(answer=4), "answer must be an index 0-3"),
        (lambda q: q.update(source="Not an article"), "is not an article of the kit"),
    ],
)
def test_the_checker_catches_a_broken_question(tamper, problem):
    rows = fake_rows()
    questions = wiki_questions(rows, per_kind=4, seed=3)
    for question in questions:
        broken = json.loads(json.dumps(question))
        tamper(broken)
        found = check_wiki_questions([broken], rows)
        assert found and problem in " ".join(found[question["id"]]), (question, found)


def test_the_checker_catches_a_distractor_that_is_also_right():
    rows = fake_rows() + [{"title": "Copy", "extract": "", "description": "Ancient tool of arts", "topic": "Arts"}]
    question = {
        "id": "x",
        "category": "description->title",
        "question": 'Which Wikipedia article has the short description "Ancient tool of arts"?',
        "options": ["Arts item 0", "Copy", "Arts item 2", "Arts item 3"],
        "answer": 0,
        "source": "Arts item 0",
    }
    problems = " ".join(check_wiki_questions([question], rows)["x"])
    assert "belongs to more than one article" in problems and "'Copy' has the same description" in problems


def jaccard(first: str, second: str) -> float:
    a, b = set(first.lower().split()), set(second.lower().split())
    return len(a & b) / len(a | b)


def test_near_identical_descriptions_never_stand_side_by_side():
    """Four articles per topic have a near copy of another's description ("Ancient tool of arts, mostly"): the two
    could both be right, so they never appear in one title->description question."""
    rows = fake_rows()
    rows += [
        {**row, "title": row["title"] + " (copy)", "description": row["description"] + ", mostly"}
        for row in rows
        if row["title"].endswith(("item 0", "item 1", "item 2", "item 3"))
    ]
    questions = [q for q in wiki_questions(rows, per_kind=25, seed=2) if q["category"] == "title->description"]
    assert len(questions) == 25 and check_wiki_questions(questions, rows) == {}
    for question in questions:
        answer = question["options"][question["answer"]]
        assert all(jaccard(answer, o) < 0.5 for o in question["options"] if o != answer), question
    question = {
        "id": "y",
        "category": "title->description",
        "question": 'Which is the short description of the Wikipedia article "Arts item 0"?',
        "options": ["Ancient tool of arts", "Ancient tool of arts, mostly", "Rare story of arts", "Late style of arts"],
        "answer": 0,
        "source": "Arts item 0",
    }
    problems = check_wiki_questions([question], rows)["y"]
    assert problems == ["distractor 'Ancient tool of arts, mostly' is nearly the answer"]


# --- built from the kit (the real summaries) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def wiki_rows():
    from datasets import load_dataset

    from utils import dataset_args

    return list(load_dataset(**dataset_args("wiki-en"))["train"])


@pytest.mark.assets
def test_the_kit_gives_360_questions_each_checked_by_construction(wiki_rows):
    questions = wiki_questions(wiki_rows)
    assert len(questions) == 360 and Counter(q["category"] for q in questions) == {kind: 120 for kind in KINDS}
    assert check_wiki_questions(questions, wiki_rows) == {}
    assert Counter(q["answer"] for q in questions) == {0: 90, 1: 90, 2: 90, 3: 90}
    topics = Counter(next(r["topic"] for r in wiki_rows if r["title"] == q["source"]) for q in questions[:120])
    assert len(topics) == 11 and max(topics.values()) - min(topics.values()) <= 1  # even across the 11 topics
    assert wiki_questions(wiki_rows) == questions  # seeded


# --- written by the project ---------------------------------------------------------------------------------------

OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}


def arithmetic(expression: str) -> float:
    """The value of an expression of numbers and + - * / // ** (nothing else is evaluated)."""

    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            return OPERATORS[type(node.op)](value(node.left), value(node.right))
        raise ValueError(f"not arithmetic: {ast.dump(node)}")

    return float(value(ast.parse(expression, mode="eval").body))


def leading_number(option: str) -> float | None:
    match = re.match(r"\$?(\d[\d,]*(?:\.\d+)?)", option)
    return float(match.group(1).replace(",", "")) if match else None


def test_at_least_100_written_questions_each_well_formed():
    questions = written_questions()
    assert len(questions) >= 100
    assert all(check_written_question(q) == [] for q in questions)
    assert len({q["id"] for q in questions}) == len(questions)
    texts = [" ".join(re.sub(r"[^\w\s]", " ", q["question"].lower()).split()) for q in questions]
    assert len(set(texts)) == len(texts), [t for t, n in Counter(texts).items() if n > 1]
    assert all(len({o.strip().lower() for o in q["options"]}) == 4 for q in questions)  # no duplicate options


def test_written_answers_are_spread_over_the_four_positions():
    counts = Counter(q["answer"] for q in written_questions())
    assert set(counts) == {0, 1, 2, 3} and max(counts.values()) - min(counts.values()) <= 1


def test_computable_written_questions_have_exactly_one_option_with_the_value():
    computable = [q for q in written_questions() if "expression" in q]
    assert len(computable) >= 25
    for question in computable:
        target = arithmetic(question["expression"])
        matching = [i for i, o in enumerate(question["options"]) if leading_number(o) == pytest.approx(target)]
        assert matching == [question["answer"]], question


def test_the_form_check_catches_broken_questions(tmp_path):
    good = {"id": "x-1", "category": "x", "question": "Q?", "options": ["a", "b", "c", "d"], "answer": 0}
    assert check_written_question(good) == []
    assert "duplicate options" in " ".join(check_written_question({**good, "options": ["a", "b", "c", "A."]}))
    assert check_written_question({**good, "options": ["a", "b", "c"]}) == [
        "options must be a list of 4 non-empty strings"
    ]
    assert "answer must be an index 0-3, got 4" in check_written_question({**good, "answer": 4})
    assert "missing category" in check_written_question({**good, "category": ""})
    bad_file = tmp_path / "questions.jsonl"
    bad_file.write_text(json.dumps(good) + "\n" + json.dumps({**good, "answer": True}) + "\n")
    with pytest.raises(ValueError, match=r"questions.jsonl:2: answer must be an index 0-3, got True"):
        written_questions(bad_file)


def test_the_arithmetic_check_would_catch_a_wrong_key():
    question = {"expression": "9 * 8", "options": ["64", "72", "81", "76"], "answer": 0}
    matching = [i for i, o in enumerate(question["options"]) if leading_number(o) == arithmetic(question["expression"])]
    assert matching == [1] != [question["answer"]]
    with pytest.raises(ValueError, match="not arithmetic"):
        arithmetic("__import__('os')")


def test_the_written_file_is_where_the_card_says():
    assert WRITTEN.relative_to(WRITTEN.parents[2]).as_posix() == "data/mc_general/questions.jsonl"


def test_the_card_quotes_the_files_figures():
    card = (WRITTEN.parents[1] / "README.md").read_text(encoding="utf-8").split("## mc_general", 1)[1]
    questions = written_questions()
    categories = Counter(q["category"] for q in questions)
    answers = Counter(q["answer"] for q in questions)
    assert f"in {len(questions)}\n  questions" in card or f"in {len(questions)} questions" in card
    named = {"everyday": "everyday life", "units": "units and time"}
    for category, count in categories.items():
        assert f"{named.get(category, category)} {count}" in card, category
    assert " / ".join(str(answers[i]) for i in range(4)) + " for A / B / C / D" in card
    computable = sum("expression" in q for q in questions)
    assert f"the {computable} items with an `expression`" in card and f"other {len(questions) - computable}" in card
    assert "Chance level: 25 %" in card and CHANCE == 0.25
