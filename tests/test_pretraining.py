"""Notebook 19's packing and collation give a causal LM and a masked LM the labels they need.

The notebook's own cells are executed (found by marker strings): its byte-level BPE trainer (on a few standard-library
files here), ``tokenize_function`` and ``group_texts``, ``llama_config`` and ``pseudo_perplexity``. Checked:
- packing: every block is exactly ``block_size`` tokens and the blocks are the token stream, in order, cut at block
  boundaries (random streams from hypothesis), with every column cut the same way;
- causal collation: labels == input_ids on packed blocks (every ``<|endoftext|>`` kept), -100 exactly at padding; the
  model shifts inside its loss (a hand-written shifted cross-entropy equals ``model(...).loss``, an unshifted or doubly
  shifted one does not); a tokenizer whose pad token is its eos token loses the end-of-file labels;
- masked collation with ``whole_word_mask=True``: labels are -100 wherever a token is not masked, the original id where
  it is; masked inputs are ``[MASK]``; a word (a run of tokens without a gap in the offsets) is masked whole or not at
  all, and token-level masking breaks that rule;
- the notebook's fast pseudo-perplexity (MLM head only at the masked position) equals the slow one-mask-at-a-time
  computation with the full model;
- ``bits_per_byte`` (section 6), on hypothesis texts in any script: a uniform model costs exactly log2(vocabulary)
  bits per predicted token, a random model's result equals its summed next-token losses over the UTF-8 bytes; four
  broken variants (mean instead of sum, start token counted, characters instead of bytes, nats) are caught;
  ``chunks_of_lines`` gives whole lines within 300 bytes and the 128-token window;
- the notebook's own MLM data cells (docstring extraction, packing into blocks of 64, ``mlm_collator``): the blocks are
  the token stream with its offsets and special-token flags; the collator masks whole words at 15 % of words on them
  (a token-level or doubled-rate configuration is caught); solution 3's count of partly masked pieces equals an
  independent count (a lower bound on pieces of partly masked words) and is 0 under whole-word masking.
"""

import math
import shutil
import sysconfig
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notebook_code import NOTEBOOKS, notebook_cell, run_cells

NOTEBOOK = NOTEBOOKS / "19_pretraining_from_scratch.ipynb"
MARKERS = [
    "from transformers import (AutoConfig",
    "bpe = Tokenizer(models.BPE())",
    "def tokenize_function(",
    "def llama_config(",
]


@pytest.fixture(scope="module")
def nb():
    """The notebook's tokenizer, packing and model config, trained/executed on ten standard-library files."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(stdlib.glob("*.py"))[:10]]
    namespace = run_cells(NOTEBOOK, MARKERS, {"raw_datasets": {"train": {"text": texts}}})
    namespace["texts"] = texts
    yield namespace
    shutil.rmtree(namespace["scratch"], ignore_errors=True)  # the imports cell makes a scratch folder


@pytest.fixture(scope="module")
def mlm_tokenizer():
    from transformers import AutoTokenizer

    from utils import checkpoint

    return AutoTokenizer.from_pretrained(checkpoint("tiny-bert"))


def causal_collator(tokenizer):
    from transformers import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(tokenizer, mlm=False)


# ---------------------------------------------------------------- packing

streams = st.lists(st.lists(st.integers(0, 4095), max_size=40), max_size=12)


@settings(max_examples=60, deadline=None)
@given(files=streams, block_size=st.integers(1, 16))
def test_group_texts_cuts_the_stream_into_full_blocks(nb, files, block_size):
    nb["block_size"] = block_size  # group_texts reads the notebook's global
    examples = {"input_ids": files, "attention_mask": [[1] * len(f) for f in files]}
    blocks = nb["group_texts"](examples)
    stream = [t for f in files for t in f]
    assert all(len(b) == block_size for b in blocks["input_ids"])
    assert len(blocks["input_ids"]) == len(stream) // block_size
    assert [t for b in blocks["input_ids"] for t in b] == stream[: len(stream) // block_size * block_size]
    assert [len(b) for b in blocks["attention_mask"]] == [len(b) for b in blocks["input_ids"]]


def test_tokenize_function_ends_every_file_with_eos(nb):
    tokenizer = nb["tokenizer"]
    ids = nb["tokenize_function"]({"text": nb["texts"][:3]})["input_ids"]
    assert [file_ids[-1] for file_ids in ids] == [tokenizer.eos_token_id] * 3
    assert all(tokenizer.decode(file_ids[:-1]) == text for file_ids, text in zip(ids, nb["texts"]))


# ---------------------------------------------------------------- causal collation


def packed_blocks(nb, block_size=32):
    nb["block_size"] = block_size
    blocks = nb["group_texts"](nb["tokenize_function"]({"text": nb["texts"]}))
    return [{"input_ids": ids} for ids in blocks["input_ids"]]


def test_causal_labels_are_the_inputs_on_packed_blocks(nb):
    blocks = packed_blocks(nb)
    batch = causal_collator(nb["tokenizer"])(blocks)
    assert torch.equal(batch["labels"], batch["input_ids"])
    assert (batch["labels"] == nb["tokenizer"].eos_token_id).sum() >= len(nb["texts"]) - 1  # file ends kept


@pytest.mark.parametrize("pad_is_eos", [False, True], ids=["separate pad", "pad = eos (broken)"])
def test_end_of_file_labels_survive_only_with_a_separate_pad_token(nb, pad_is_eos):
    from transformers import PreTrainedTokenizerFast

    tokenizer = nb["tokenizer"]
    if pad_is_eos:
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=nb["bpe"], eos_token="<|endoftext|>", pad_token="<|endoftext|>"
        )
    blocks = [b for b in packed_blocks(nb) if tokenizer.eos_token_id in b["input_ids"]]
    batch = causal_collator(tokenizer)(blocks)
    assert torch.equal(batch["labels"], batch["input_ids"]) is not pad_is_eos


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(1, 20), min_size=1, max_size=6), seed=st.integers(0, 10_000))
def test_causal_labels_are_minus_100_exactly_at_padding(nb, lengths, seed):
    tokenizer = nb["tokenizer"]
    generator = torch.Generator().manual_seed(seed)
    real = [i for i in range(len(tokenizer)) if i != tokenizer.pad_token_id]
    features = [
        {"input_ids": [real[int(j)] for j in torch.randint(len(real), (n,), generator=generator)]} for n in lengths
    ]
    batch = causal_collator(tokenizer)(features)
    padding = batch["attention_mask"] == 0
    assert batch["input_ids"].shape == (len(lengths), max(lengths))
    assert padding.sum().item() == sum(max(lengths) - n for n in lengths)
    assert (batch["labels"][padding] == -100).all()
    assert torch.equal(batch["labels"][~padding], batch["input_ids"][~padding])


def hand_loss(logits, labels, variant):
    vocabulary = logits.shape[-1]
    if variant == "shifted":  # position t predicts token t+1
        return F.cross_entropy(logits[:, :-1].reshape(-1, vocabulary), labels[:, 1:].reshape(-1), ignore_index=-100)
    if variant == "unshifted":  # position t "predicts" its own input token
        return F.cross_entropy(logits.reshape(-1, vocabulary), labels.reshape(-1), ignore_index=-100)
    # a collator that shifted the labels too: the model shifts again, so position t is scored on token t+2
    return F.cross_entropy(logits[:, :-2].reshape(-1, vocabulary), labels[:, 2:].reshape(-1), ignore_index=-100)


@pytest.mark.parametrize("variant, equal", [("shifted", True), ("unshifted", False), ("double shift", False)])
def test_the_shift_happens_inside_the_model(nb, variant, equal):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(nb["llama_config"](hidden_size=32, num_layers=1, intermediate_size=64))
    features = packed_blocks(nb, block_size=16)[:3] + [{"input_ids": nb["tokenizer"]("x = 1")["input_ids"]}]
    batch = causal_collator(nb["tokenizer"])(features)  # three packed blocks and one padded row
    with torch.no_grad():
        outputs = model(**batch)
    by_hand = hand_loss(outputs.logits, batch["labels"], variant)
    assert torch.allclose(outputs.loss, by_hand, atol=1e-6) is equal


# ---------------------------------------------------------------- masked collation


def words_of(offsets, special):
    """Word ids as the collator defines them: a token continues a word when it starts where the previous one ended."""
    words, current, previous_end = [], -1, None
    for (start, end), is_special in zip(offsets, special):
        if is_special:
            words.append(None)
            previous_end = None
            continue
        if start != previous_end:
            current += 1
        words.append(current)
        previous_end = end
    return words


TEXTS = [
    "Return the tokenizer's self.assertEqual value unchanged.",
    "Raise ValueError if the unparseable configuration is given to __init__.",
    "Tokenization of hyperparameters: don't re-tokenize pre-tokenized inputs!",
    "A short one.",
]


def mlm_batch(mlm_tokenizer, whole_word, seed, probability=0.3):
    import warnings

    from transformers import DataCollatorForLanguageModeling

    features = [
        mlm_tokenizer(
            t, return_offsets_mapping=True, return_special_tokens_mask=True, padding="max_length", max_length=32
        )
        for t in TEXTS
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        collator = DataCollatorForLanguageModeling(
            mlm_tokenizer, mlm=True, whole_word_mask=whole_word, mlm_probability=probability, seed=seed
        )
    return features, collator([dict(f) for f in features])


def split_whole_words(features, batch):
    """Number of words with some pieces masked and others not."""
    broken = 0
    for feature, labels in zip(features, batch["labels"].tolist()):
        words = words_of(feature["offset_mapping"], feature["special_tokens_mask"])
        for word in {w for w in words if w is not None}:
            masked = {labels[i] != -100 for i, w in enumerate(words) if w == word}
            broken += len(masked) == 2
    return broken


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 100_000))
def test_whole_word_mlm_labels(mlm_tokenizer, seed):
    features, batch = mlm_batch(mlm_tokenizer, whole_word=True, seed=seed)
    original = torch.tensor([f["input_ids"] for f in features])
    special = torch.tensor([f["special_tokens_mask"] for f in features]).bool()
    masked = batch["labels"] != -100
    assert torch.equal(batch["labels"][masked], original[masked])  # the label of a masked token is its id
    assert torch.equal(batch["input_ids"][~masked], original[~masked])  # unmasked tokens are untouched
    assert (batch["input_ids"][masked] == mlm_tokenizer.mask_token_id).all()  # whole words: always [MASK]
    assert not (masked & special).any()  # [CLS], [SEP], [PAD] never masked
    assert split_whole_words(features, batch) == 0


@pytest.mark.parametrize("whole_word", [True, False], ids=["whole words", "token level (splits words)"])
def test_only_whole_word_masking_keeps_words_whole(mlm_tokenizer, whole_word):
    broken = sum(split_whole_words(*mlm_batch(mlm_tokenizer, whole_word, seed)) for seed in range(20))
    assert (broken == 0) is whole_word


def test_fast_pseudo_perplexity_equals_the_full_model(mlm_tokenizer):
    from transformers import AutoModelForMaskedLM

    from utils import checkpoint

    source = notebook_cell(NOTEBOOK, "def pseudo_perplexity(").split("\nn_scored")[0]
    namespace = {"math": math, "torch": torch, "mlm_tokenizer": mlm_tokenizer}
    exec(compile(source, "19[pseudo_perplexity]", "exec"), namespace)
    model = AutoModelForMaskedLM.from_pretrained(checkpoint("tiny-bert"))
    texts = TEXTS[:3]

    log_probs, count = 0.0, 0
    for text in texts:
        ids = mlm_tokenizer(text, return_tensors="pt")["input_ids"][0]
        for position in range(1, len(ids) - 1):
            masked = ids.clone()
            masked[position] = mlm_tokenizer.mask_token_id
            with torch.no_grad():
                logits = model(input_ids=masked[None]).logits[0, position]
            log_probs += logits.log_softmax(-1)[ids[position]].item()
            count += 1
    assert namespace["pseudo_perplexity"](model, texts) == pytest.approx(math.exp(-log_probs / count), rel=1e-4)


# ---------------------------------------------------------------- bits per byte (section 6)

BPB = "def bits_per_byte("


def bpb_code(nb, old=None, new=None):
    """The notebook's chunks_of_lines and bits_per_byte (its cell also cuts the comparison chunks, here from the
    fixture's files); with ``old``, a broken variant with ``old`` replaced by ``new``."""
    namespace = {**nb, "block_size": 128, "validation_texts": nb["texts"][:3]}
    source = notebook_cell(NOTEBOOK, BPB)
    if old is not None:
        assert old in source, f"the notebook no longer contains {old!r}: update the broken variant"
        source = source.replace(old, new)
    exec(compile(source, "19[bits_per_byte]", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def bpb(nb):
    return bpb_code(nb)


def small_llama(nb, uniform=False):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(nb["llama_config"](hidden_size=32, num_layers=1, intermediate_size=64))
    if uniform:  # a zero embedding (tied to the head) makes every hidden state and every logit exactly 0
        with torch.no_grad():
            model.model.embed_tokens.weight.zero_()
    return model.eval()


def bits_per_byte_by_hand(model, tokenizer, chunks, start_id):
    """Summed (not averaged) next-token losses over every chunk, in bits, over the chunks' UTF-8 bytes."""
    nats = 0.0
    for chunk in chunks:
        ids = torch.tensor([start_id] + tokenizer(chunk)["input_ids"])
        with torch.no_grad():
            logits = model(input_ids=ids[None]).logits[0]
        nats += F.cross_entropy(logits[:-1], ids[1:], reduction="sum").item()
    return nats / math.log(2) / sum(len(chunk.encode("utf-8")) for chunk in chunks)


def bpb_errors(bits_per_byte, nb, models, chunks):
    """What is wrong with bits_per_byte on these chunks: against a uniform model (exactly log2(vocabulary) bits per
    predicted token) and against the summed losses of a random model."""
    tokenizer, start = nb["tokenizer"], nb["tokenizer"].eos_token_id
    n_tokens = sum(len(tokenizer(chunk)["input_ids"]) for chunk in chunks)
    n_bytes = sum(len(chunk.encode("utf-8")) for chunk in chunks)
    errors = []
    uniform = bits_per_byte(models["uniform"], tokenizer, chunks, start)
    if uniform != pytest.approx(n_tokens * math.log2(len(tokenizer)) / n_bytes, rel=1e-5):
        errors.append(f"uniform model: {uniform} bits per byte")
    random_model = bits_per_byte(models["random"], tokenizer, chunks, start)
    if random_model != pytest.approx(bits_per_byte_by_hand(models["random"], tokenizer, chunks, start), rel=1e-5):
        errors.append(f"random model: {random_model} bits per byte")
    return errors


@pytest.fixture(scope="module")
def bpb_models(nb):
    return {"uniform": small_llama(nb, uniform=True), "random": small_llama(nb)}


texts_of_any_script = st.lists(
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(str.strip),
    min_size=1,
    max_size=4,
)


@settings(max_examples=30, deadline=None)
@given(chunks=texts_of_any_script)
def test_bits_per_byte_counts_every_predicted_token_over_utf8_bytes(nb, bpb, bpb_models, chunks):
    """On any text (accents, CJK, emoji: several bytes per character), bits per byte = the summed loss of every
    predicted token (not the start token), in bits, over the UTF-8 bytes; a uniform model costs log2(V) per token."""
    assert bpb_errors(bpb["bits_per_byte"], nb, bpb_models, chunks) == []


BROKEN_BPB = {
    "mean loss per chunk, not summed": ("loss.item() * (ids.shape[1] - 1)", "loss.item()"),
    "start token counted as predicted": ("loss.item() * (ids.shape[1] - 1)", "loss.item() * ids.shape[1]"),
    "characters instead of bytes": ("sum(len(c.encode()) for c in chunks)", "sum(len(c) for c in chunks)"),
    "nats, not bits": ("/ math.log(2)", "/ 1"),
}
BPB_CHUNKS = ["def f(x):\n    return x\n", "café = 'naïve'  # é, ï\n", "x = 1\n", "# 日本語のコメント 🙂\n"]


@pytest.mark.parametrize("broken", list(BROKEN_BPB))
def test_a_broken_bits_per_byte_is_caught(nb, bpb, bpb_models, broken):
    assert bpb_errors(bpb["bits_per_byte"], nb, bpb_models, BPB_CHUNKS) == []
    wrong = bpb_code(nb, *BROKEN_BPB[broken])["bits_per_byte"]
    assert bpb_errors(wrong, nb, bpb_models, BPB_CHUNKS) != []


def test_comparison_chunks_are_whole_lines_that_fit_the_window(nb, bpb):
    """chunks_of_lines gives runs of whole lines of one file, at most 300 bytes, each within the 128-token window."""
    texts = nb["texts"]
    chunks = bpb["chunks_of_lines"](texts, n_chunks=50)
    assert len(chunks) >= 10
    for chunk in chunks:
        assert len(chunk.encode()) <= 300 and len(nb["tokenizer"](chunk)["input_ids"]) < 128
        assert any("\n" + chunk in "\n" + text and (chunk.endswith("\n") or text.endswith(chunk)) for text in texts), (
            chunk
        )


# ---------------------------------------------------------------- the notebook's own MLM data (section 8)

MLM_MARKERS = [
    "from transformers import (AutoConfig",
    "def tokenize_function(",  # group_texts
    "def docstrings(",
    "mlm_collator = DataCollatorForLanguageModeling(",
    "def tokenize_docstrings(",
]


@pytest.fixture(scope="module")
def mlm_nb(mlm_tokenizer):
    """The notebook's docstring extraction, packing into blocks of 64 and whole-word collator, executed on 30 training
    and 10 held-out standard-library files."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(stdlib.glob("*.py"))[:40]]
    namespace = {"raw_datasets": {"train": {"text": texts[:30]}}, "validation_texts": texts[30:]}
    namespace = run_cells(NOTEBOOK, MLM_MARKERS[:1], namespace)
    namespace["mlm_tokenizer"] = mlm_tokenizer
    namespace = run_cells(NOTEBOOK, MLM_MARKERS[1:], namespace)
    yield namespace
    shutil.rmtree(namespace["scratch"], ignore_errors=True)


def test_docstring_blocks_are_the_token_stream_with_its_offsets(mlm_nb):
    """Packing keeps every column aligned: 64 tokens per block, and the blocks are the tokenized docstrings' stream
    (ids, offsets, special-token flags) cut at block boundaries."""
    assert mlm_nb["block_size"] == 64
    tokenized = mlm_nb["tokenize_docstrings"]({"text": mlm_nb["docstring_train"]})
    blocks = mlm_nb["mlm_datasets"]["train"]
    assert len(blocks) >= 20
    for column in ("input_ids", "offset_mapping", "special_tokens_mask"):
        stream = [list(x) if column == "offset_mapping" else x for row in tokenized[column] for x in row]
        packed = [list(x) if column == "offset_mapping" else x for row in blocks[column] for x in row]
        assert all(len(row) == 64 for row in blocks[column])
        assert packed == stream[: len(packed)] and len(stream) - len(packed) < 64, column
    ids, special = blocks["input_ids"], blocks["special_tokens_mask"]
    cls_sep = {mlm_nb["mlm_tokenizer"].cls_token_id, mlm_nb["mlm_tokenizer"].sep_token_id}
    assert all((t in cls_sep) == bool(s) for row, flags in zip(ids, special) for t, s in zip(row, flags))


def collator_errors(collator, mlm_nb):
    """What is wrong with a collator on the notebook's packed docstring blocks (an empty list when nothing is)."""
    blocks = [dict(b) for b in mlm_nb["mlm_datasets"]["train"]]
    batch = collator(blocks)
    original = torch.tensor([b["input_ids"] for b in blocks])
    special = torch.tensor([b["special_tokens_mask"] for b in blocks]).bool()
    masked = batch["labels"] != -100
    errors = []
    if not torch.equal(batch["labels"][masked], original[masked]):
        errors.append("a masked label is not the original id")
    if not torch.equal(batch["input_ids"][~masked], original[~masked]):
        errors.append("an unmasked input changed")
    if not (batch["input_ids"][masked] == mlm_nb["mlm_tokenizer"].mask_token_id).all():
        errors.append("a masked input is not [MASK]")
    if (masked & special).any():
        errors.append("a special token masked")
    words_masked, n_words, split = 0, 0, 0
    for block, labels in zip(blocks, batch["labels"].tolist()):
        words = words_of(block["offset_mapping"], block["special_tokens_mask"])
        for word in {w for w in words if w is not None}:
            states = {labels[i] != -100 for i, w in enumerate(words) if w == word}
            split += len(states) == 2
            words_masked += max(states)
            n_words += 1
    if split:
        errors.append(f"{split} words partly masked")
    if not (n_words > 2000 and abs(words_masked / n_words - 0.15) < 0.02):
        errors.append(f"{words_masked} of {n_words} words masked")
    return errors


def test_the_notebooks_collator_masks_whole_words_at_the_set_rate(mlm_nb):
    """The notebook's mlm_collator on its packed blocks: a word is masked whole or not at all, about 15 % of words
    (each word start chosen with probability 0.15), only [MASK] in the input, labels only where masked, never a
    special token."""
    assert collator_errors(mlm_nb["mlm_collator"], mlm_nb) == []


@pytest.mark.parametrize(
    "old, new",
    [("whole_word_mask=True,\n", "whole_word_mask=False,\n"), ("mlm_probability=0.15", "mlm_probability=0.3")],
    ids=["token-level masking", "twice the masking rate"],
)
def test_a_wrongly_configured_collator_is_caught(mlm_nb, old, new):
    source = notebook_cell(NOTEBOOK, MLM_MARKERS[3]).split("print(")[0]
    assert source.count(old) == 1, f"the notebook no longer contains {old!r} once: update the broken variant"
    namespace = {**mlm_nb}
    exec(compile(source.replace(old, new), "19[mlm_collator, broken]", "exec"), namespace)
    assert collator_errors(namespace["mlm_collator"], mlm_nb) != []


def pieces_beside_an_unmasked_piece(blocks, labels):
    """Masked pieces with an unmasked piece of the same word right next to them, and masked pieces whose word has an
    unmasked piece anywhere (words from the offsets, as the collator defines them)."""
    beside = anywhere = 0
    for block, row in zip(blocks, labels.tolist()):
        words = words_of(block["offset_mapping"], block["special_tokens_mask"])
        masked = [label != -100 for label in row]
        for i, word in enumerate(words):
            if word is None or not masked[i]:
                continue
            neighbours = [k for k in (i - 1, i + 1) if 0 <= k < len(words) and words[k] == word]
            beside += any(not masked[k] for k in neighbours)
            anywhere += any(not masked[k] for k, w in enumerate(words) if w == word)
    return beside, anywhere


@pytest.mark.parametrize("whole_word", [False, True], ids=["token level", "whole words"])
def test_the_partly_masked_count_of_solution_3(mlm_nb, whole_word):
    """Solution 3's count (masked pieces with an unmasked neighbour in the same word) equals an independent count
    from the offsets; it is a lower bound on the pieces of partly masked words; it is 0 under whole-word masking."""
    from transformers import DataCollatorForLanguageModeling

    def collator(*args, **kwargs):
        """The solution's token-level collator, or a whole-word one given back the offsets the solution leaves out."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inner = DataCollatorForLanguageModeling(*args, **kwargs, whole_word_mask=whole_word)
        if not whole_word:
            return inner

        def with_offsets(features):
            full = [dict(mlm_nb["mlm_datasets"]["train"][i]) for i in range(len(features))]
            assert [f["input_ids"] for f in features] == [f["input_ids"] for f in full]
            return inner(full)

        return with_offsets

    namespace = run_cells(
        NOTEBOOK,
        ["token_level = DataCollatorForLanguageModeling("],
        {**mlm_nb, "DataCollatorForLanguageModeling": collator},
    )
    beside, anywhere = pieces_beside_an_unmasked_piece(namespace["blocks"], namespace["collated"]["labels"])
    assert namespace["partial"] == beside <= anywhere
    assert namespace["masked_total"] == int((namespace["collated"]["labels"] != -100).sum())
    assert (beside == 0) is whole_word
