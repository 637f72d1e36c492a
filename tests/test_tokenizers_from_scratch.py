"""Notebook 06's from-scratch BPE, WordPiece and Unigram give the tokenizers library's results.

Every function under test is executed from the notebook cell that defines it (found by a marker string), so the
tests check what learners read. They compare real outputs with the library, configured the same way:
- BPE: merges (in order) and vocabulary ids against ``BpeTrainer``, on Wikipedia text and on random corpora built to
  be full of ties; encodings (ids, tokens, offsets) against the library's ``BPE`` model;
- WordPiece: encodings against MiniLM's tokenizer and against a ``WordPiece`` model given our trained vocabulary;
  the incremental trainer against a slow reference that rescores every pair at every merge;
- Unigram: Viterbi segmentations against ``Unigram(vocab, unk_id=0)`` with trained pieces and with random pieces whose
  scores tie often; forward-backward against brute-force enumeration; EM against ``UnigramTrainer`` by likelihood.
Random texts come from hypothesis: emoji, accents, combining marks, CJK, runs of whitespace, the empty string.
"""

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notebook_code import NOTEBOOKS, run_cells

pytestmark = pytest.mark.assets  # loads models from the asset home (make setup)

NOTEBOOK = NOTEBOOKS / "06_tokenizers_from_scratch.ipynb"
MARKERS = [
    "from tokenizers import Tokenizer, decoders",
    "def count_words(",
    "def merge_pair(",
    "def library_bpe(",
    "def train_bpe(",
    "def bpe_tokenize_word(",
    "def encode_with_model(",
    "def wordpiece_tokenize_word(",
    "def train_wordpiece(",
    "def unigram_table(",
    "def logsumexp(",
    "def best_segmentation(",
    "def train_unigram(",
]
SPECIAL_STRINGS = ("[UNK]", "<unk>", "[CLS]", "[SEP]", "[PAD]", "[MASK]")

WORDS = [
    "the",
    "The",
    "café",
    "naïve",
    "Ångström",
    "東京",
    "北京",
    "한국어",
    "😀",
    "👍🏽",
    "e\u0301",
    "İstanbul",
    "ﬁne",
    "ß",
    "don't",
    "3.14",
    "x" * 101,
    "é" * 101,
    "tokenization",
    "unaffable",
    "-",
    ",",
    "ABC",
    "__init__",
]
SPACES = [" ", "  ", "\t", "\n", " \t\n ", "\u00a0", "\u3000", "\u2028"]
random_texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.sampled_from(WORDS), st.sampled_from(SPACES)), max_size=20).map("".join),
    st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join),
).filter(lambda text: not any(special in text for special in SPECIAL_STRINGS))
# corpora over a tiny alphabet: many equal pair counts, so the tie rule decides most merges
tie_words = st.text(alphabet="abcdé東", min_size=1, max_size=8)
tie_corpora = st.lists(tie_words, min_size=1, max_size=25).map(" ".join)


@pytest.fixture(scope="module")
def nb():
    """The notebook's from-scratch code, executed cell by cell into one namespace."""
    return run_cells(NOTEBOOK, MARKERS)


@pytest.fixture(scope="module")
def wiki():
    from datasets import load_dataset

    from utils import dataset_args

    documents = list(load_dataset(**dataset_args("wiki-en"))["train"]["extract"])
    return {"train": documents[::40][:200], "held_out": documents[1::97][:40]}


@pytest.fixture(scope="module")
def bpe(nb, wiki):
    """The library's BPE trained on the Wikipedia slice, and our encoder with our merges."""
    from tokenizers import pre_tokenizers

    tokenizer, library_merges = nb["library_bpe"](wiki["train"], 800)
    vocab, merges = nb["train_bpe"](nb["count_words"](wiki["train"], pre_tokenizers.Whitespace()), 800, ["[UNK]"])
    token_ids = {token: i for i, token in enumerate(vocab)}
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    return {
        "tokenizer": tokenizer,
        "library_merges": library_merges,
        "vocab": vocab,
        "merges": merges,
        "tokenize": lambda word: nb["bpe_tokenize_word"](word, token_ids, ranks),
    }


@pytest.fixture(scope="module")
def minilm():
    from tokenizers import Tokenizer

    from utils import checkpoint

    tokenizer = Tokenizer.from_file(str(Path(checkpoint("minilm")) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@pytest.fixture(scope="module")
def minilm_vocab(minilm):
    return minilm.get_vocab()


def bert_wordpiece(token_ids):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    tokenizer = Tokenizer(models.WordPiece(vocab=token_ids, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tokenizer


def metaspace_unigram(pieces):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=0, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    return tokenizer


@pytest.fixture(scope="module")
def wordpiece(nb, wiki):
    from tokenizers import normalizers, pre_tokenizers

    counts = nb["count_words"](
        wiki["train"], pre_tokenizers.BertPreTokenizer(), normalizers.BertNormalizer(lowercase=True)
    )
    token_ids = {token: i for i, token in enumerate(nb["train_wordpiece"](counts, 600))}
    return bert_wordpiece(token_ids), lambda word: nb["wordpiece_tokenize_word"](word, token_ids)


@pytest.fixture(scope="module")
def unigram(nb, wiki):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=400, special_tokens=["<unk>"], unk_token="<unk>", show_progress=False)
    tokenizer.train_from_iterator(wiki["train"][:80], trainer)
    pieces = [(piece, score) for piece, score in json.loads(tokenizer.to_str())["model"]["vocab"]]
    table = nb["unigram_table"](pieces)
    return tokenizer, pieces, lambda word: nb["unigram_tokenize_word"](word, table)


EDGE_TEXTS = [
    "",
    " ",
    "\t\n  ",
    "😀👍🏽 emoji",
    "Café naïve résumé Ångström",
    "東京 and 北京",
    "x" * 120,
    "e\u0301 (e + combining accent)",
    "İstanbul",
    "ﬁne ligature",
    "  leading and trailing  ",
]


# ---------------------------------------------------------------- BPE


def test_bpe_merges_and_vocabulary_match_the_library_on_wikipedia(bpe):
    assert len(bpe["merges"]) > 500
    assert bpe["merges"] == bpe["library_merges"]
    assert {token: i for i, token in enumerate(bpe["vocab"])} == bpe["tokenizer"].get_vocab()


def test_bpe_encodings_match_on_held_out_wikipedia_and_edge_cases(nb, bpe, wiki):
    n_tokens = nb["assert_same_encodings"](bpe["tokenizer"], bpe["tokenize"], wiki["held_out"] + EDGE_TEXTS)
    assert n_tokens > 5000


@settings(max_examples=80, deadline=None)
@given(text=tie_corpora, extra=st.integers(min_value=1, max_value=40))
def test_bpe_merges_match_the_library_on_corpora_full_of_ties(nb, text, extra):
    from tokenizers import pre_tokenizers

    counts = nb["count_words"]([text], pre_tokenizers.Whitespace())
    vocab_size = 1 + len({c for word in counts for c in word}) + extra
    tokenizer, library_merges = nb["library_bpe"]([text], vocab_size)
    vocab, merges = nb["train_bpe"](counts, vocab_size, ["[UNK]"])
    assert merges == library_merges
    assert {token: i for i, token in enumerate(vocab)} == tokenizer.get_vocab()
    _, naive_merges = nb["train_bpe_naive"](counts, vocab_size, ["[UNK]"])
    assert naive_merges == library_merges


@settings(max_examples=80, deadline=None)
@given(text=random_texts)
def test_bpe_encodings_match_on_random_text(nb, bpe, text):
    nb["assert_same_encodings"](bpe["tokenizer"], bpe["tokenize"], [text])


def test_bpe_unknown_characters_become_unk_one_by_one(bpe):
    tokens = bpe["tokenize"]("a東京b")
    assert [token for _, token, _, _ in tokens][1:3] == ["[UNK]", "[UNK]"]
    assert [(start, end) for _, _, start, end in tokens][1:3] == [(1, 2), (2, 3)]


# ---------------------------------------------------------------- WordPiece


@settings(max_examples=80, deadline=None)
@given(text=random_texts)
def test_wordpiece_matches_minilm_on_random_text(nb, minilm, minilm_vocab, text):
    nb["assert_same_encodings"](minilm, lambda word: nb["wordpiece_tokenize_word"](word, minilm_vocab), [text])


@settings(max_examples=80, deadline=None)
@given(text=random_texts)
def test_wordpiece_matches_the_library_model_given_our_trained_vocabulary(nb, wordpiece, text):
    tokenizer, tokenize = wordpiece
    nb["assert_same_encodings"](tokenizer, tokenize, [text])


def test_wordpiece_whole_word_is_unknown_when_stuck_or_too_long(nb, minilm_vocab):
    vocab = minilm_vocab
    assert [t for _, t, _, _ in nb["wordpiece_tokenize_word"]("ab😀", vocab)] == ["[UNK]"]
    assert len(nb["wordpiece_tokenize_word"]("x" * 100, vocab)) > 1
    assert nb["wordpiece_tokenize_word"]("x" * 101, vocab) == [(vocab["[UNK]"], "[UNK]", 0, 101)]


def reference_wordpiece(word_counts, vocab_size, prefix="##"):
    """WordPiece training the slow way: rescore every pair from scratch at every merge."""
    from collections import Counter

    vocab = ["[UNK]"] + sorted({w[0] for w in word_counts} | {prefix + c for w in word_counts for c in w[1:]})
    words = [[vocab.index(w[0])] + [vocab.index(prefix + c) for c in w[1:]] for w in word_counts]
    counts = list(word_counts.values())
    while len(vocab) < vocab_size:
        token_counts, pair_counts = Counter(), Counter()
        for symbols, n in zip(words, counts):
            for token in symbols:
                token_counts[token] += n
            for pair in zip(symbols, symbols[1:]):
                pair_counts[pair] += n
        if not pair_counts:
            break
        best = min(pair_counts, key=lambda p: (-pair_counts[p] / (token_counts[p[0]] * token_counts[p[1]]), p))
        new_token = vocab[best[0]] + vocab[best[1]].removeprefix(prefix)
        if new_token in vocab:
            new_id = vocab.index(new_token)
        else:
            vocab.append(new_token)
            new_id = len(vocab) - 1
        merged_words = []
        for symbols in words:
            merged, i = [], 0
            while i < len(symbols):
                if tuple(symbols[i : i + 2]) == best:
                    merged.append(new_id)
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            merged_words.append(merged)
        words = merged_words
    return vocab


@settings(max_examples=60, deadline=None)
@given(text=tie_corpora, extra=st.integers(min_value=1, max_value=30))
def test_incremental_wordpiece_trainer_equals_rescoring_everything(nb, text, extra):
    from tokenizers import pre_tokenizers

    counts = nb["count_words"]([text], pre_tokenizers.Whitespace())
    alphabet = {w[0] for w in counts} | {"##" + c for w in counts for c in w[1:]}
    vocab_size = 1 + len(alphabet) + extra
    assert nb["train_wordpiece"](counts, vocab_size) == reference_wordpiece(counts, vocab_size)


# ---------------------------------------------------------------- Unigram


@settings(max_examples=80, deadline=None)
@given(text=random_texts)
def test_unigram_viterbi_matches_the_library_with_trained_pieces(nb, unigram, text):
    tokenizer, _, tokenize = unigram
    nb["assert_same_encodings"](tokenizer, tokenize, [text])


# few distinct scores (sums of small integers): many segmentations tie, so the tie rule decides
piece_strings = st.text(alphabet="ab▁é😀", min_size=1, max_size=4)
random_pieces = st.dictionaries(piece_strings, st.sampled_from([-1.0, -2.0, -3.0]), min_size=1, max_size=30)


def test_unigram_viterbi_ties_go_to_the_first_candidate_found(nb):
    pieces = [("<unk>", 0.0), ("a", -1.0), ("b", -1.0), ("c", -1.0), ("ab", -2.0), ("bc", -2.0)]
    table = nb["unigram_table"](pieces)
    library = metaspace_unigram(pieces)
    assert [t for _, t, _, _ in nb["unigram_tokenize_word"]("abc", table)] == ["a", "bc"]
    assert [t for _, t, _, _ in nb["unigram_tokenize_word"]("ab", table)] == ["ab"]
    nb["assert_same_encodings"](
        library, lambda word: nb["unigram_tokenize_word"](word, table), ["abc", "ab", "xab", "abcabc", "cab"]
    )


@settings(max_examples=150, deadline=None)
@given(scores=random_pieces, words=st.lists(st.text(alphabet="ab é😀c", max_size=12), min_size=1, max_size=4))
def test_unigram_viterbi_matches_the_library_when_scores_tie(nb, scores, words):
    pieces = [("<unk>", 0.0)] + sorted(scores.items())
    table = nb["unigram_table"](pieces)
    nb["assert_same_encodings"](metaspace_unigram(pieces), lambda word: nb["unigram_tokenize_word"](word, table), words)


def all_segmentations(word, log_probs):
    if not word:
        return [[]]
    return [
        [word[:end]] + rest
        for end in range(1, len(word) + 1)
        if word[:end] in log_probs
        for rest in all_segmentations(word[end:], log_probs)
    ]


@settings(max_examples=100, deadline=None)
@given(
    probabilities=st.dictionaries(
        st.text(alphabet="abc", min_size=2, max_size=3), st.floats(min_value=0.01, max_value=1.0), max_size=8
    ),
    word=st.text(alphabet="abc", min_size=1, max_size=7),
)
def test_forward_backward_equals_brute_force_enumeration(nb, probabilities, word):
    log_probs = {c: math.log(0.2) for c in "abc"} | {p: math.log(v) for p, v in probabilities.items()}
    segmentations = all_segmentations(word, log_probs)
    weights = [math.exp(sum(log_probs[p] for p in s)) for s in segmentations]
    log_z, expected = nb["forward_backward"](word, log_probs, max_len=3)
    assert log_z == pytest.approx(math.log(sum(weights)), rel=1e-9, abs=1e-12)
    for piece in log_probs:
        by_hand = sum(w * s.count(piece) for w, s in zip(weights, segmentations)) / sum(weights)
        assert expected.get(piece, 0.0) == pytest.approx(by_hand, abs=1e-9)


def test_unigram_em_reaches_a_likelihood_close_to_the_library(nb, unigram, wiki):
    from tokenizers import pre_tokenizers

    _, library_pieces, _ = unigram
    counts = nb["count_words"](wiki["train"][:80], pre_tokenizers.Metaspace())
    pieces, history = nb["train_unigram"](counts, 400)
    assert len(pieces) == 400 and pieces[0] == ("<unk>", 0.0)
    assert {c for word in counts for c in word} <= {p for p, _ in pieces}, "every character must stay"
    assert all(
        later["log-likelihood per word"] > earlier["log-likelihood per word"]
        for earlier, later in zip(history[::2], history[1::2])
    ), "an EM step must raise the likelihood"

    def per_word(vocabulary):
        log_probs = dict(vocabulary[1:])
        total = sum(n * nb["forward_backward"](w, log_probs, 16)[0] for w, n in counts.items())
        return total / sum(counts.values())

    ours, theirs = per_word(pieces), per_word(library_pieces)
    assert abs(ours - theirs) < 0.05 * abs(theirs), (ours, theirs)
    shared = len({p for p, _ in pieces} & {p for p, _ in library_pieces})
    assert shared > 0.4 * len(pieces)

    table = nb["unigram_table"](pieces)
    nb["assert_same_encodings"](
        metaspace_unigram(pieces),
        lambda word: nb["unigram_tokenize_word"](word, table),
        wiki["held_out"][:10] + EDGE_TEXTS,
    )
