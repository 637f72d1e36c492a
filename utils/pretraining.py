"""Notebook 19's pretraining pipeline as functions, for the course run that trains it longer than a notebook can.

Notebook 19 teaches each step in its own cells (deduplicate the standard library's Python files, split by a hash of
the file name, train a 4,096-token byte-level BPE, pack files into blocks of 128 tokens, a Llama config); these
functions do the same and ``tests/test_pretraining.py`` proves them equal to the notebook's cells. What is new here:
:func:`without_positions` (a causal decoder with RoPE switched off, the ablation of notebook 19 section 7) and
:func:`block_losses` (one mean loss per validation block, so two models can be compared on the same blocks; the
losses by position in the block come from :func:`token_losses`).
"""

from __future__ import annotations

import hashlib
import sysconfig
from itertools import chain
from pathlib import Path

import numpy as np

LEFT_OUT = {"test", "tests", "idlelib", "site-packages", "encodings", "pydoc_data"}
SPECIAL_TOKENS = ["<|endoftext|>", "<pad>"]


def stdlib_paths(limit: int | None = None) -> list[Path]:
    """The standard library's ``.py`` files (tests, IDLE, encodings and site-packages left out), sorted."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    paths = sorted(p for p in stdlib.rglob("*.py") if not LEFT_OUT & set(p.relative_to(stdlib).parts))
    return paths[:limit]


def normalise(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.splitlines()).strip()


def split_of(name: str, validation_share: float = 0.05) -> str:
    bucket = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 1000
    return "validation" if bucket < 1000 * validation_share else "train"


def corpus(paths: list[Path]) -> dict[str, list[dict]]:
    """Deduplicated files (the first of each normalised content kept), split by file name: ``{split: [{name, text}]}``."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files: dict[str, tuple[str, str]] = {}
    for path in paths:
        source = path.read_text(encoding="utf-8", errors="replace")
        key = hashlib.sha256(normalise(source).encode()).hexdigest()
        files.setdefault(key, (str(path.relative_to(stdlib)), source))
    splits: dict[str, list[dict]] = {"train": [], "validation": []}
    for name, source in files.values():
        splits[split_of(name)].append({"name": name, "text": source})
    return splits


def train_tokenizer(texts: list[str], vocab_size: int = 4096):
    """Notebook 19's byte-level BPE (eos = bos = ``<|endoftext|>``, a separate ``<pad>``), as a fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<pad>"
    )


def pack(tokenizer, texts: list[str], block_size: int = 128) -> list[list[int]]:
    """Each file's tokens then ``<|endoftext|>``, concatenated in order and cut into full blocks (remainder dropped)."""
    stream = list(chain.from_iterable(ids + [tokenizer.eos_token_id] for ids in tokenizer(texts)["input_ids"]))
    total = len(stream) // block_size * block_size
    return [stream[i : i + block_size] for i in range(0, total, block_size)]


def llama_config(tokenizer, hidden_size: int, num_layers: int, intermediate_size: int, heads: int = 4,
                 kv_heads: int = 2, block_size: int = 128):  # fmt: skip
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=block_size,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())  # a tied matrix is one Parameter: counted once


def without_positions(model):
    """Switch RoPE off in a Llama model, in place: every rotation frequency set to 0, so cos = 1 and sin = 0 and the
    queries and keys pass unrotated (no position information at all: "NoPE"). Returns the model."""
    rotary = model.model.rotary_emb
    rotary.inv_freq.zero_()
    if hasattr(rotary, "original_inv_freq"):
        rotary.original_inv_freq = rotary.inv_freq.clone()
    return model


def token_losses(model, blocks: list[list[int]], batch_size: int = 64) -> np.ndarray:
    """Next-token loss (nats) at every predicted position of every block: shape (blocks, block size - 1)."""
    import torch
    import torch.nn.functional as F

    model.eval()
    losses = []
    for start in range(0, len(blocks), batch_size):
        ids = torch.tensor(blocks[start : start + batch_size])
        with torch.no_grad():
            logits = model(input_ids=ids).logits
        losses.append(F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), ids[:, 1:], reduction="none").numpy())
    return np.concatenate(losses)


def block_losses(model, blocks: list[list[int]], batch_size: int = 64) -> np.ndarray:
    """Mean next-token loss (nats) of each block: positions 1..T-1 predicted from the tokens before them."""
    return token_losses(model, blocks, batch_size).mean(axis=1)


def unigram_block_losses(train_blocks: list[list[int]], blocks: list[list[int]], vocab_size: int) -> np.ndarray:
    """Per-block loss of the unigram model (token frequencies in the training blocks, add-one): notebook 19's
    baseline, on the same predicted positions as :func:`block_losses`."""
    counts = np.bincount(np.concatenate([np.asarray(b) for b in train_blocks]), minlength=vocab_size) + 1
    log_probs = np.log(counts / counts.sum())
    return np.array([-log_probs[np.asarray(b)[1:]].mean() for b in blocks])
