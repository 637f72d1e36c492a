"""Multiple-choice benchmarks with answers known by construction: built from the kit's Wikipedia summaries, or
written by this project (``data/mc_general``).

Every question has four options and one correct answer, so **chance level is 25 %** (:data:`CHANCE`). A question is a
dict ``{"id", "category", "question", "options": [4 strings], "answer": index 0-3}``; built questions also carry
``"source"``, the title of the article they were made from.

:func:`wiki_questions` makes three kinds from the rows of ``load_dataset(**dataset_args("wiki-en"))["train"]``
(fields title, extract, description, topic), never from committed text:

- ``description->title``: which article has this short description? The answer is the article; the three
  distractors are articles of the same topic. Only descriptions held by one article of the whole kit are used, and
  none that contains one of the four titles (that would give the answer away or mislead).
- ``title->description``: what is this article about? Its own description against three other descriptions of the
  same topic (each unique in the kit, so exactly one is the article's), none sharing half its words with the answer
  (word Jaccard below 0.5: "Country in Western Africa" never stands beside "Country in West Africa").
- ``title->topic``: which of the kit's 11 topics (its "Uncategorized" articles left out) does the article belong to?
  Three other topics as distractors. The topics are Wikipedia's Vital Articles categories: sometimes debatable (a
  scientist is "People"), but the answer is the kit's label by construction.

Articles are drawn evenly across topics, options are shuffled so that each position holds the answer equally often,
and everything is seeded: the same rows and seed give the same questions. :func:`check_wiki_questions` re-derives
the answers of built questions from the kit; :func:`check_written_question` checks the form of a written one.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

CHANCE = 0.25
LETTERS = "ABCD"
SEED = 20261207
KINDS = ("description->title", "title->description", "title->topic")
UNCATEGORIZED = "Uncategorized"
WRITTEN = Path(__file__).resolve().parents[1] / "data" / "mc_general" / "questions.jsonl"
MAX_DESCRIPTION = 90  # characters: long descriptions are rare and read like the extract
SIMILAR = 0.5  # word Jaccard at which two descriptions are too alike to be an answer and its distractor


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _usable(rows: Iterable[Mapping[str, str]]) -> tuple[dict[str, dict], Counter]:
    """Articles with a topic and a description, by title; and how many articles of all the rows (Uncategorized
    included) hold each normalised description."""
    by_title: dict[str, dict] = {}
    descriptions: Counter = Counter()
    for row in rows:
        title, description, topic = (str(row.get(k) or "").strip() for k in ("title", "description", "topic"))
        if description:
            descriptions[_norm(description)] += 1
        if title and description and topic and topic != UNCATEGORIZED and len(description) <= MAX_DESCRIPTION:
            by_title[title] = {"title": title, "description": description, "topic": topic}
    return by_title, descriptions


def _similar(first: str, second: str) -> bool:
    """True when two descriptions share half their words or more (Jaccard >= 0.5): "Country in West Africa" and
    "Country in Western Africa" could both be right."""
    a, b = set(_norm(first).split()), set(_norm(second).split())
    return len(a & b) >= SIMILAR * len(a | b)


def _mentions(description: str, title: str) -> bool:
    return re.search(rf"\b{re.escape(_norm(title))}\b", _norm(description)) is not None


def wiki_questions(rows: Iterable[Mapping[str, str]], per_kind: int = 120, seed: int = SEED) -> list[dict]:
    """``per_kind`` questions of each kind in :data:`KINDS` (3 x 120 = 360 by default) from Wikipedia summary rows.

    Raises ValueError when the rows cannot supply that many (too few usable articles in some topic).
    """
    by_title, description_count = _usable(rows)
    rng = random.Random(seed)
    topics = sorted({a["topic"] for a in by_title.values()})
    if len(topics) < 4:
        raise ValueError(f"need articles from at least 4 topics, got {len(topics)}: {topics}")
    unique = {t: a for t, a in by_title.items() if description_count[_norm(a["description"])] == 1}
    pools = defaultdict(list)
    for title in sorted(unique):
        pools[unique[title]["topic"]].append(title)
    questions: list[dict] = []
    used: set[str] = set()
    for kind in KINDS:
        answers = [i % 4 for i in range(per_kind)]
        rng.shuffle(answers)
        order = [topics[i % len(topics)] for i in range(per_kind)]
        rng.shuffle(order)
        for number, (topic, answer) in enumerate(zip(order, answers)):
            question = _one(kind, topic, answer, pools, unique, topics, used, rng)
            if question is None:
                raise ValueError(f"not enough usable articles in topic {topic!r} for {per_kind} {kind} questions")
            question["id"] = f"wiki-{kind.replace('->', '-to-')}-{number:03d}"
            questions.append(question)
    return questions


def _one(kind, topic, answer, pools, unique, topics, used, rng) -> dict | None:
    """One question about an unused article of ``topic``, with the answer at position ``answer``; None if none fits."""
    candidates = [t for t in pools[topic] if t not in used]
    rng.shuffle(candidates)
    for title in candidates:
        article = unique[title]
        others = [t for t in pools[topic] if t != title]
        if kind == "title->topic":
            distractors = rng.sample([t for t in topics if t != topic], 3)
            correct, question = topic, f'Which topic does the Wikipedia article "{title}" belong to?'
        else:
            picked = rng.sample(others, 3)
            titles = [title, *picked]
            if kind == "description->title":
                if any(_mentions(article["description"], t) for t in titles):
                    continue
                correct, distractors = title, picked
                question = f'Which Wikipedia article has the short description "{article["description"]}"?'
            else:
                correct = article["description"]
                distractors = [unique[t]["description"] for t in picked]
                if any(_mentions(d, title) for d in [correct, *distractors]):
                    continue
                if any(_similar(correct, d) for d in distractors):
                    continue
                question = f'Which is the short description of the Wikipedia article "{title}"?'
        if len({_norm(o) for o in [correct, *distractors]}) != 4:
            continue
        options = list(distractors)
        options.insert(answer, correct)
        used.add(title)
        return {"category": kind, "question": question, "options": options, "answer": answer, "source": title}
    return None


def check_wiki_questions(questions: Iterable[Mapping], rows: Iterable[Mapping[str, str]]) -> dict[str, list[str]]:
    """Problems with built questions, re-derived from the kit rows; ``{id: [problem, ...]}`` for the bad ones only.

    Checks the form (four distinct options, an answer index) and, by kind: the answer is the source article's title,
    description or topic; the description is held by no other article; no distractor is the right answer too.
    """
    rows = list(rows)
    articles = {str(r.get("title") or ""): r for r in rows}
    holders = Counter(_norm(str(r.get("description") or "")) for r in rows)
    found = {}
    for question in questions:
        problems = _check_one(question, articles, holders)
        if problems:
            found[str(question.get("id"))] = problems
    return found


def _check_one(question: Mapping, articles: Mapping[str, Mapping], holders: Counter) -> list[str]:
    problems = _form(question)
    if problems:
        return problems
    options, answer, kind = question["options"], question["answer"], question["category"]
    article = articles.get(question["source"])
    if article is None:
        return [f"source {question['source']!r} is not an article of the kit"]
    correct = options[answer]
    distractors = [o for i, o in enumerate(options) if i != answer]
    description = str(article.get("description") or "")
    if kind == "title->topic":
        if correct != article["topic"]:
            problems.append(f"answer {correct!r} is not the article's topic {article['topic']!r}")
        if article["topic"] in distractors:
            problems.append("the article's topic is also a distractor")
        return problems
    if holders[_norm(description)] != 1:
        problems.append(f"the description {description!r} belongs to more than one article")
    if kind == "title->description":
        if correct != description:
            problems.append(f"answer {correct!r} is not the article's description")
        problems += [f"distractor {d!r} is nearly the answer" for d in distractors if _similar(description, d)]
        if f'"{article["title"]}"' not in question["question"]:
            problems.append("the question does not quote the article's title")
    elif kind == "description->title":
        if correct != article["title"]:
            problems.append(f"answer {correct!r} is not the source article")
        for title in distractors:
            other = articles.get(title)
            if other is None:
                problems.append(f"distractor {title!r} is not an article of the kit")
            elif _norm(str(other.get("description") or "")) == _norm(description):
                problems.append(f"distractor {title!r} has the same description")
        if f'"{description}"' not in question["question"]:
            problems.append("the question does not quote the article's description")
    else:
        problems.append(f"unknown category {kind!r}")
    return problems


def _form(question: Mapping) -> list[str]:
    problems = []
    options = question.get("options")
    if not isinstance(options, list) or len(options) != 4 or not all(isinstance(o, str) and o.strip() for o in options):
        return ["options must be a list of 4 non-empty strings"]
    if len({_norm(o) for o in options}) != 4:
        problems.append(f"duplicate options: {options}")
    answer = question.get("answer")
    if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < 4:
        problems.append(f"answer must be an index 0-3, got {answer!r}")
    if not str(question.get("question") or "").strip():
        problems.append("empty question")
    return problems


def check_written_question(question: Mapping) -> list[str]:
    """Problems with a written question's form: four distinct non-empty options, one answer index, a question, a
    category, an id. (Whether the keyed option is the right one is checked by people, and by code where the item
    carries an arithmetic ``expression`` whose value must match exactly one option.)"""
    problems = _form(question)
    for field in ("id", "category"):
        if not str(question.get(field) or "").strip():
            problems.append(f"missing {field}")
    return problems


def written_questions(path: Path = WRITTEN) -> list[dict]:
    """The project's written questions (``data/mc_general/questions.jsonl``); ValueError naming the line of a bad
    one."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        question = json.loads(line)
        problems = check_written_question(question)
        if problems:
            raise ValueError(f"{path.name}:{number}: {'; '.join(problems)}")
        questions.append(question)
    return questions
