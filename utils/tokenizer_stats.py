"""How well a tokenizer fits a corpus: tokens per word, unknown tokens and sequence lengths (notebook 05).

Words are counted by splitting on whitespace, the same yardstick for every tokenizer, so that two
tokenizers (or two languages) can be compared on the same texts. Token counts exclude the special tokens
(``[CLS]``, ``[SEP]``...); sequence lengths include them, because that is what a model reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from transformers import PreTrainedTokenizerBase

PER_TEXT_COLUMNS = ["characters", "words", "tokens", "unknown", "sequence length"]
SUMMARY_COLUMNS = [
    "texts",
    "words",
    "tokens",
    "tokens per word",
    "unknown share",
    "mean sequence length",
    "max sequence length",
    "share over max_length",
]


def count_words(text: str) -> int:
    """The number of whitespace-separated words in ``text`` (0 for an empty or blank text)."""
    return len(text.split())


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not a single string: wrap it as [text]")
    texts = list(texts)
    if not texts:
        raise ValueError("texts is empty: pass at least one text")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] is a {type(text).__name__}, not a str")
    return texts


def _check_tokenizer(tokenizer: object, name: str = "tokenizer") -> PreTrainedTokenizerBase:
    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        raise TypeError(
            f"{name} must be a transformers tokenizer, got {type(tokenizer).__name__}; wrap a "
            "tokenizers.Tokenizer first: PreTrainedTokenizerFast(tokenizer_object=...)"
        )
    return tokenizer


def text_stats(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> pd.DataFrame:
    """One row per text: characters, words, tokens, unknown tokens and sequence length.

    ``tokens`` counts the tokens of the text itself; ``sequence length`` adds the special tokens the
    tokenizer puts around one sequence. ``unknown`` counts the tokenizer's unknown token (always 0 for a
    tokenizer without one, such as byte-level BPE). Texts are never truncated.
    Raises TypeError for a single string instead of a list, a non-string text, or an object that is not a
    transformers tokenizer; ValueError for an empty list.
    """
    tokenizer = _check_tokenizer(tokenizer)
    texts = _check_texts(texts)
    # verbose=False: texts longer than the model's limit are what we want to measure, not a warning
    ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    unk_id = tokenizer.unk_token_id
    n_special = tokenizer.num_special_tokens_to_add(pair=False)
    return pd.DataFrame(
        {
            "characters": [len(text) for text in texts],
            "words": [count_words(text) for text in texts],
            "tokens": [len(row) for row in ids],
            "unknown": [0 if unk_id is None else sum(i == unk_id for i in row) for row in ids],
            "sequence length": [len(row) + n_special for row in ids],
        },
        columns=PER_TEXT_COLUMNS,
    )


def compare_tokenizers(
    tokenizers: Mapping[str, PreTrainedTokenizerBase], texts: Sequence[str], *, max_length: int = 512
) -> pd.DataFrame:
    """One row per tokenizer (indexed by its name), measured on the same ``texts``.

    Columns: ``texts``, ``words`` and ``tokens`` (totals), ``tokens per word`` (fertility: total tokens /
    total words), ``unknown share`` (unknown tokens / tokens), ``mean sequence length`` and ``max sequence
    length`` (with special tokens), and ``share over max_length`` (the share of texts that would not fit in
    ``max_length`` tokens, e.g. a model's context of 512).
    Raises ValueError for no tokenizers, no texts, texts without a single word, or ``max_length < 1``;
    TypeError as :func:`text_stats` does.
    """
    if not tokenizers:
        raise ValueError("no tokenizers to compare: pass a dict {name: tokenizer}")
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    texts = _check_texts(texts)
    if not any(count_words(text) for text in texts):
        raise ValueError("the texts contain no words (only empty or blank strings): tokens per word is undefined")
    rows = {}
    for name, tokenizer in tokenizers.items():
        stats = text_stats(_check_tokenizer(tokenizer, f"tokenizers[{name!r}]"), texts)
        tokens = int(stats["tokens"].sum())
        rows[name] = {
            "texts": len(stats),
            "words": int(stats["words"].sum()),
            "tokens": tokens,
            "tokens per word": tokens / stats["words"].sum(),
            "unknown share": stats["unknown"].sum() / tokens if tokens else 0.0,
            "mean sequence length": stats["sequence length"].mean(),
            "max sequence length": int(stats["sequence length"].max()),
            "share over max_length": (stats["sequence length"] > max_length).mean(),
        }
    return pd.DataFrame.from_dict(rows, orient="index", columns=SUMMARY_COLUMNS)
