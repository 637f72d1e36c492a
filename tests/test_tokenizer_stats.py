"""utils.tokenizer_stats: the counts notebook 05 compares tokenizers with.

A tiny hand-made WordPiece tokenizer gives counts that can be checked by hand; MiniLM's tokenizer is the
reference library on random texts (tokens = ``len(tokenizer.tokenize(text))``, sequence length =
``len(tokenizer(text)["input_ids"])``).
"""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from utils import checkpoint
from utils.tokenizer_stats import PER_TEXT_COLUMNS, SUMMARY_COLUMNS, compare_tokenizers, count_words, text_stats

pytestmark = pytest.mark.assets  # loads models from the asset home (make setup)

VOCAB = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "[PAD]": 3, "hello": 4, "world": 5, "##s": 6, "!": 7}


@pytest.fixture(scope="module")
def tiny():
    """WordPiece over 8 entries: "hello worlds zzz!" -> hello world ##s [UNK] ! (3 words, 5 tokens, 1 unknown)."""
    backend = Tokenizer(models.WordPiece(VOCAB, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    backend.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]"
    )


@pytest.fixture(scope="module")
def byte_level():
    """A byte-level BPE with no merges and no unknown token: one token per byte."""
    backend = Tokenizer(models.BPE({symbol: i for i, symbol in enumerate(pre_tokenizers.ByteLevel.alphabet())}, []))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return PreTrainedTokenizerFast(tokenizer_object=backend)


@pytest.fixture(scope="module")
def minilm():
    return AutoTokenizer.from_pretrained(checkpoint("minilm"))


def test_count_words_splits_on_any_whitespace():
    assert count_words("") == 0
    assert count_words(" \t\n ") == 0
    assert count_words("one two\tthree\nfour  five") == 5


def test_text_stats_counts_by_hand(tiny):
    stats = text_stats(tiny, ["hello worlds zzz!", "hello", ""])
    assert list(stats.columns) == PER_TEXT_COLUMNS
    assert stats.to_dict("list") == {
        "characters": [17, 5, 0],
        "words": [3, 1, 0],
        "tokens": [5, 1, 0],
        "unknown": [1, 0, 0],
        "sequence length": [7, 3, 2],  # + [CLS] and [SEP]
    }


def test_compare_tokenizers_sums_per_text_stats(tiny, minilm):
    texts = ["hello worlds zzz!", "hello world", "zzz zzz"]
    table = compare_tokenizers({"tiny": tiny, "minilm": minilm}, texts, max_length=4)
    assert list(table.columns) == SUMMARY_COLUMNS
    assert list(table.index) == ["tiny", "minilm"]
    row = table.loc["tiny"]
    assert row["texts"] == 3 and row["words"] == 7
    assert row["tokens"] == 5 + 2 + 2
    assert row["tokens per word"] == pytest.approx(9 / 7)
    assert row["unknown share"] == pytest.approx(3 / 9)  # zzz, zzz, zzz
    assert row["mean sequence length"] == pytest.approx((7 + 4 + 4) / 3)
    assert row["max sequence length"] == 7
    assert row["share over max_length"] == pytest.approx(1 / 3)
    per_text = text_stats(minilm, texts)
    assert table.loc["minilm", "tokens"] == per_text["tokens"].sum()


def test_a_tokenizer_without_unknown_token_counts_zero_unknowns(byte_level):
    assert byte_level.unk_token_id is None
    stats = text_stats(byte_level, ["héllo 🦊"])
    assert stats.loc[0, "unknown"] == 0
    assert stats.loc[0, "tokens"] == len("héllo 🦊".encode())  # one token per byte: no merges


def test_long_texts_are_measured_not_truncated(minilm):
    long_text = "word " * 2000
    stats = text_stats(minilm, [long_text])
    assert stats.loc[0, "sequence length"] == 2002
    assert compare_tokenizers({"minilm": minilm}, [long_text]).loc["minilm", "share over max_length"] == 1.0


words = st.sampled_from(
    ["Paris", "café", "Montréal", "😀", "東京", "[SEP]", "don't", "e-mail", "x" * 120, "\t", "zzqx"]
)
texts = st.one_of(st.text(max_size=60), st.lists(words, max_size=12).map(" ".join))


@settings(max_examples=60, deadline=None)
@given(st.lists(texts, min_size=1, max_size=5))
def test_matches_the_tokenizer_itself_on_random_texts(minilm, batch):
    stats = text_stats(minilm, batch)
    assert stats["tokens"].tolist() == [len(minilm.tokenize(t)) for t in batch]
    assert stats["sequence length"].tolist() == [len(minilm(t)["input_ids"]) for t in batch]
    assert stats["unknown"].tolist() == [minilm.tokenize(t).count(minilm.unk_token) for t in batch]
    assert stats["words"].tolist() == [len(t.split()) for t in batch]


def test_returns_dataframes(tiny):
    assert isinstance(text_stats(tiny, ["hello"]), pd.DataFrame)
    assert isinstance(compare_tokenizers({"tiny": tiny}, ["hello"]), pd.DataFrame)


@pytest.mark.parametrize(
    "bad, error, message",
    [
        ("hello world", TypeError, "not a single string"),
        ([], ValueError, "texts is empty"),
        (["fine", 3], TypeError, r"texts\[1\] is a int, not a str"),
    ],
)
def test_bad_texts_get_a_clear_error(tiny, bad, error, message):
    with pytest.raises(error, match=message):
        text_stats(tiny, bad)
    with pytest.raises(error, match=message):
        compare_tokenizers({"tiny": tiny}, bad)


def test_a_raw_tokenizers_object_is_refused_with_the_fix(tiny):
    with pytest.raises(TypeError, match=r"PreTrainedTokenizerFast\(tokenizer_object=\.\.\.\)"):
        text_stats(tiny.backend_tokenizer, ["hello"])
    with pytest.raises(TypeError, match=r"tokenizers\['raw'\] must be a transformers tokenizer"):
        compare_tokenizers({"raw": tiny.backend_tokenizer}, ["hello"])


def test_compare_refuses_what_it_cannot_measure(tiny):
    with pytest.raises(ValueError, match="no tokenizers to compare"):
        compare_tokenizers({}, ["hello"])
    with pytest.raises(ValueError, match="tokens per word is undefined"):
        compare_tokenizers({"tiny": tiny}, ["", "  "])
    with pytest.raises(ValueError, match="max_length must be at least 1, got 0"):
        compare_tokenizers({"tiny": tiny}, ["hello"], max_length=0)
