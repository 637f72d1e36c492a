"""Tiny random models over SmolLM2's vocabulary, for tests of notebook code that needs a causal LM but not its weights."""

from __future__ import annotations


def tiny_llama_config(tokenizer, **overrides):
    """A 2-layer Llama config (hidden 32, 4 heads, 2 key-value heads: grouped-query attention, as SmolLM2) over
    ``tokenizer``'s vocabulary and special tokens; ``overrides`` replace any field (e.g. ``initializer_range=0.1``
    for attention sharp enough that positions and masks matter)."""
    from transformers import LlamaConfig

    fields = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    return LlamaConfig(**{**fields, **overrides})
