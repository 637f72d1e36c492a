"""``python -m utils.course.report_card [model ...]``: score course models on notebook 22's suites and write the card.

The scoring is :mod:`utils.report_card` (a lesson helper, proven equal to notebook 22's cells); this command only
resolves catalog names to folders, loads each model and writes ``<asset home>/report_card/card.json`` and ``card.md``
(models already on the card and not named again keep their rows). A model that is not built or not in the catalog is
skipped with a line that says why.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from utils.course.resolve import checkpoint, dataset_args
from utils.multiple_choice import wiki_questions, written_questions
from utils.report_card import (
    MODELS,
    card_dir,
    card_scores,
    humaneval_items,
    load_card,
    markdown,
    mc_items,
    score_model,
    suite_sizes,
    table,
)


def main(argv: Sequence[str] | None = None) -> int:
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    parser = argparse.ArgumentParser(prog="python -m utils.course.report_card", description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", default=list(MODELS), help=f"catalog names (default: {' '.join(MODELS)})")
    args = parser.parse_args(argv)
    sizes = suite_sizes()
    generated, written = mc_items(
        wiki_questions(list(load_dataset(**dataset_args("wiki-en"))["train"])),
        written_questions(),
        sizes["per_kind"],
        sizes["n_written"],
    )
    humaneval = humaneval_items(load_dataset(**dataset_args("humaneval"))["test"], sizes["humaneval"])
    cards = load_card()
    for name in args.models:
        try:
            folder = checkpoint(name)
        except Exception as error:  # a course model not built or not in the catalog yet: say so, go on
            print(f"{name}: skipped ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})")
            continue
        tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        card = score_model(
            name, model, tokenizer, generated, written, humaneval, range(sizes["seeds"]), sizes["max_new_tokens"]
        )
        card["task metrics"] = card_scores(Path(folder))
        cards[name] = card
        print(f"{name}: scored")
    card_dir().mkdir(parents=True, exist_ok=True)
    (card_dir() / "card.json").write_text(json.dumps(cards, indent=1), encoding="utf-8")
    text = markdown(table(cards))
    (card_dir() / "card.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
