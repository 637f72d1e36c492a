"""Write the sft_extract instruction dataset (notebook 20) from the kit's English Wikipedia summaries.

Each example asks for 2 or 3 fields of one article's opening sentences as a JSON object. Only the
article title, the length of the context (a prefix of the summary), the instruction and the answer are
written: the Wikipedia text itself (CC BY-SA 4.0) stays in the asset home and is joined by title at
load time. Every answer is computed by code from the context and checked again by ``check_example``
(``tests/test_fine_tuning_an_llm.py`` re-runs the check on every example when the asset home is present).

Run from the repository root::

    .venv/bin/python data/sft_extract/make_data.py
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261206
# The kit's topics (Uncategorized left out) and the short label the answers use (fewer tokens in every prompt).
TOPICS = {"Arts": "arts", "Biology and health sciences": "biology", "Everyday life": "daily life",
          "Geography": "geography", "History": "history", "Mathematics": "mathematics", "People": "people",
          "Philosophy and religion": "philosophy", "Physical sciences": "physical science",
          "Society and social sciences": "society", "Technology": "technology"}
FIELDS = ("name", "year", "topic")
# A four-digit year 1000-2029, not part of a longer number ("12345", "1,2345", "3.1415", "1809,000").
YEAR = re.compile(r"(?<!\d)(?<!\d[,.])(1[0-9]{3}|20[0-2][0-9])(?!\d|[,.]\d)")
AMBIGUOUS = re.compile(r"\d{4}s|\bBC|\bAD\b|\bCE\b|\d{4}\s*[–-]\s*\d{2}\b")  # decades, eras, "1914–18": left out
# A sentence ends at . ! ? followed by a space and a capital, unless the period closes an abbreviation or an initial.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“(])")
ABBREVIATIONS = {"St", "Mr", "Mrs", "Dr", "Mt", "Jr", "Sr", "c", "ca", "vs", "etc", "Inc", "No", "Co", "Ltd", "Gen",
                 "Lt", "Col", "Sgt", "Capt", "Rev", "Prof", "Ft", "U.S", "U.K", "e.g", "i.e", "approx", "fl", "b", "d"}
MAX_CONTEXT = 200  # characters: the opening sentences of the summary, as many as fit (at least the first)
MAX_FIRST_SENTENCE = 240
PER_TOPIC = 48  # articles per topic (11 topics: 528), half of them with a year where the topic has enough
TEST_SHARE = 0.2


def first_year(context: str) -> int | None:
    """The first four-digit year (1000-2029) written in the context, or None."""
    match = YEAR.search(context)
    return int(match.group(1)) if match else None


def sentence_ends(extract: str) -> list[int]:
    """Character offsets just after each sentence of the extract (the last one is len(extract))."""
    ends = []
    for match in SENTENCE_END.finditer(extract):
        before = extract[:match.start()].rstrip(".!?")
        word = re.split(r"[\s(]", before)[-1]
        if word in ABBREVIATIONS or re.fullmatch(r"[A-Z]", word) or re.fullmatch(r"(?:[A-Z]\.)+[A-Z]", word):
            continue  # "Arthur C. Clarke", "St. Louis", "U.S. Army": not a sentence end
        ends.append(match.start())
    ends.append(len(extract.rstrip()))
    return ends


def context_chars(extract: str) -> int | None:
    """Length of the context: the first sentences that fit in MAX_CONTEXT characters (at least one), or None."""
    ends = sentence_ends(extract)
    if ends[0] > MAX_FIRST_SENTENCE:
        return None
    fitting = [end for end in ends if end <= MAX_CONTEXT]
    return fitting[-1] if fitting else ends[0]


# ---- instructions: many wordings, the requested keys and their definitions spelled out ----------------------
OPENERS = [
    "Extract these fields from the text and reply with JSON only.",
    "Return a JSON object with the keys {keys}.",
    "Give me JSON with the keys {keys} for the text below.",
    "Return only JSON, with these keys: {keys}.",
    "From the text below, pull out {natural} as JSON.",
    "Output a JSON object containing {natural}.",
    "Parse the text into JSON with exactly these fields: {keys}.",
    "Turn the text into a JSON record with the fields {keys}.",
    "Answer in JSON (no other text), using the keys {keys}.",
    "Fill in a JSON object with {natural} from the text.",
    "Read the summary and write a JSON object whose keys are {keys}, in that order.",
    "Convert the passage into one JSON object. Keys, in order: {keys}.",
    "Describe the text as a JSON object with the keys {keys} and nothing else.",
    "JSON only, please: {keys}.",
]
DEFINITIONS = {
    "name": ["the subject's name as written in the text",
             "what the text is about, copied from the text",
             "the name of the subject, word for word"],
    "year": ["the first four-digit year in the text, or null",
             "the first year mentioned (a number), null if none",
             "the first year written in the text as an integer, else null"],
    "topic": ["one of {topics}",
              "chosen from {topics}",
              "exactly one of {topics}"],
}


DEFINITION_STYLES = ["bullets", "inline", "sentences"]
NATURAL = {"name": "the name", "year": "the first year mentioned", "topic": "the topic"}


def join_natural(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def instruction(fields: list[str], rng: random.Random) -> str:
    """One instruction asking for ``fields`` (in this order), in a wording drawn with ``rng``."""
    opener = rng.choice(OPENERS).format(keys=", ".join(f'"{f}"' for f in fields),
                                        natural=join_natural([NATURAL[f] for f in fields]))
    definitions = {f: rng.choice(DEFINITIONS[f]).format(topics=", ".join(TOPICS.values())) for f in fields}
    style = rng.choice(DEFINITION_STYLES)
    if style == "bullets":
        body = "\n".join(f"- {f}: {d}" for f, d in definitions.items())
    elif style == "inline":
        body = "Fields: " + "; ".join(f"{f} = {d}" for f, d in definitions.items()) + "."
    else:
        body = " ".join(f'"{f}" is {d}.' for f, d in definitions.items())
    return f"{opener}\n{body}"


def answer(fields: list[str], title: str, context: str, topic: str) -> str:
    values = {"name": title, "year": first_year(context), "topic": TOPICS[topic]}
    return json.dumps({f: values[f] for f in fields}, ensure_ascii=False)


# ---- the checker -----------------------------------------------------------------------------------------------
def check_example(example: dict, article: dict) -> list[str]:
    """Problems with one example against its kit article ({title, extract, topic}); [] when it is right."""
    problems = []
    context = article["extract"][:example["context_chars"]]
    if example["title"] != article["title"]:
        problems.append("title does not match the article")
    if not context.endswith((".", "!", "?", ".\"", ".”")):
        problems.append("context does not end at a sentence end")
    if not re.search(rf"(?<!\w){re.escape(example['title'])}(?!\w)", context):
        problems.append("the name is not written in the context")
    try:
        parsed = json.loads(example["answer"])
    except json.JSONDecodeError:
        return problems + ["answer is not JSON"]
    if list(parsed) != example["fields"]:
        problems.append(f"answer keys {list(parsed)} != requested {example['fields']}")
    expected = {"name": article["title"], "year": first_year(context), "topic": TOPICS.get(article["topic"])}
    for field in example["fields"]:
        if parsed.get(field) != expected[field]:
            problems.append(f"{field}: {parsed.get(field)!r} != {expected[field]!r}")
    for field in example["fields"]:
        if f'"{field}"' not in example["instruction"] and f"{field}:" not in example["instruction"] \
                and f"{field} =" not in example["instruction"]:
            problems.append(f"instruction does not name the field {field!r}")
    if "topic" in example["fields"] and article["topic"] not in TOPICS:
        problems.append("topic outside the list")
    return problems


def load_articles(path: Path) -> dict[str, dict]:
    with path.open(encoding="utf-8") as f:
        return {row["title"]: row for row in map(json.loads, f)}


def candidates(articles: dict[str, dict]) -> list[dict]:
    """Articles usable for the task: a listed topic, a plain title written in a short opening."""
    usable = []
    for title, article in sorted(articles.items()):
        if article["topic"] not in TOPICS or len(title) > 40 or any(c in title for c in '"\\()'):
            continue
        chars = context_chars(article["extract"])
        if chars is None or not re.search(rf"(?<!\w){re.escape(title)}(?!\w)", article["extract"][:chars]) \
                or AMBIGUOUS.search(article["extract"][:chars]):
            continue
        usable.append({"title": title, "topic": article["topic"], "context_chars": chars,
                       "has_year": first_year(article["extract"][:chars]) is not None})
    return usable


def build(articles: dict[str, dict], seed: int = SEED) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    strata = defaultdict(list)
    for row in candidates(articles):
        strata[(row["topic"], row["has_year"])].append(row)
    sizes = {}
    for topic in TOPICS:
        sizes[(topic, True)] = min(PER_TOPIC // 2, len(strata[(topic, True)]))
        sizes[(topic, False)] = PER_TOPIC - sizes[(topic, True)]
    splits = {"train": [], "test": []}
    for key in sorted(strata):
        chosen = rng.sample(strata[key], sizes[key])
        n_test = round(len(chosen) * TEST_SHARE)
        for i, row in enumerate(chosen):  # one example per article, so the split is by article
            fields = rng.sample(FIELDS, rng.choice([2, 3]))
            context = articles[row["title"]]["extract"][:row["context_chars"]]
            example = {"title": row["title"], "context_chars": row["context_chars"], "fields": fields,
                       "instruction": instruction(fields, rng),
                       "answer": answer(fields, row["title"], context, row["topic"])}
            splits["test" if i < n_test else "train"].append(example)
    for name, rows in splits.items():
        rng.shuffle(rows)
        for i, row in enumerate(rows):
            row["id"] = f"{name}-{i:03d}"
    return splits


def main() -> int:
    sys.path.insert(0, str(HERE.parents[1]))
    from utils import dataset_args

    articles = load_articles(Path(dataset_args("wiki-en")["data_files"]["train"]))
    splits = build(articles)
    bad = {row["id"]: p for rows in splits.values() for row in rows if (p := check_example(row, articles[row["title"]]))}
    if bad:
        print(bad)
        return 1
    keys = ["id", "title", "context_chars", "fields", "instruction", "answer"]
    for name, rows in splits.items():
        with (HERE / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps({k: row[k] for k in keys}, ensure_ascii=False) + "\n")
        print(f"{name}: {len(rows)} examples, every answer checked")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
