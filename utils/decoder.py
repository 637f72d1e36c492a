"""Notebook 17's hand-written SmolLM2 decoder with its KV cache, for the notebooks that reuse it (notebook 18).

The code is notebook 17's, cell for cell (``tests/test_inside_a_transformer.py`` proves the two give the same logits
and caches): a Llama-family decoder (RMSNorm, RoPE, grouped-query attention, SwiGLU, tied head) computed from a
``state_dict`` and a config, one call per batch of new tokens. Notebook 17 explains every line; here it is a tool.

``decoder_step`` takes the new tokens, the attention mask of everything so far (cached + new, 0 at pads, left padding
allowed) and the cache it returned last time (``None`` for the prefill); it returns the logits of the new tokens and
the cache with their keys and values appended: a list of ``(keys, values)`` per layer, each
``(batch, key/value heads, length, head_dim)``, keys after RoPE and before the grouped-query repeat.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

Cache = list[tuple[torch.Tensor, torch.Tensor]]


def layer_weights(weights: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors whose name starts with ``prefix``, with the prefix removed."""
    return {name[len(prefix) :]: tensor for name, tensor in weights.items() if name.startswith(prefix)}


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """``weight * x / sqrt(mean(x^2) + eps)`` over the last dimension."""
    return weight * (x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps))


def rope_cos_sin(position_ids: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of each position's angles, (batch, tokens, head_dim): one angle per dimension pair, repeated."""
    inverse_frequencies = 1.0 / theta ** (torch.arange(0, head_dim, 2).float() / head_dim)
    angles = position_ids[..., None].float() * inverse_frequencies
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate every (i, i + head_dim/2) pair of x (batch, heads, tokens, head_dim) by its position's angle."""
    return x * cos[:, None] + rotate_half(x) * sin[:, None]


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(batch, tokens, width) -> (batch, heads, tokens, width / heads)."""
    batch, tokens, _ = x.shape
    return x.view(batch, tokens, n_heads, -1).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(batch, heads, tokens, head size) -> (batch, tokens, heads * head size)."""
    batch, n_heads, tokens, head_size = x.shape
    return x.transpose(1, 2).reshape(batch, tokens, n_heads * head_size)


def swiglu_mlp(x: torch.Tensor, p: Mapping[str, torch.Tensor]) -> torch.Tensor:
    gate = F.silu(x @ p["mlp.gate_proj.weight"].T)
    return (gate * (x @ p["mlp.up_proj.weight"].T)) @ p["mlp.down_proj.weight"].T


def safe_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v with forbidden scores at the most negative finite float instead of -inf: a query
    with no allowed key (a left pad) gets uniform weights instead of 0/0 = NaN; every other row is unchanged."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return scores.softmax(dim=-1) @ v


def decoder_step(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    weights: Mapping[str, torch.Tensor],
    config,
    cache: Cache | None = None,
) -> tuple[torch.Tensor, Cache]:
    """The logits of the new tokens ``input_ids`` (batch, new) and the cache with their keys and values appended.

    ``attention_mask`` (batch, cached + new) has 0 at pads; ``cache`` is ``None`` for the prefill, else what the
    previous call returned. Raises ValueError when the mask does not cover the cached and the new tokens.
    """
    past = 0 if cache is None else cache[0][0].shape[2]
    new = input_ids.shape[1]
    if attention_mask.shape != (input_ids.shape[0], past + new):
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)}, expected {(input_ids.shape[0], past + new)}: "
            "it must cover the cached tokens and the new ones"
        )
    position_ids = (attention_mask.cumsum(dim=-1) - 1).clamp(min=0)[:, past:]  # real tokens count from 0
    cos, sin = rope_cos_sin(position_ids, config.head_dim, config.rope_parameters["rope_theta"])
    causal = torch.ones(new, past + new, dtype=torch.bool).tril(diagonal=past)  # new token i sees keys up to past + i
    mask = causal & attention_mask.bool()[:, None, None, :]
    group = config.num_attention_heads // config.num_key_value_heads
    x = weights["model.embed_tokens.weight"][input_ids]
    new_cache: Cache = []
    for i in range(config.num_hidden_layers):
        p = layer_weights(weights, f"model.layers.{i}.")
        h = rms_norm(x, p["input_layernorm.weight"], config.rms_norm_eps)
        q = apply_rope(split_heads(h @ p["self_attn.q_proj.weight"].T, config.num_attention_heads), cos, sin)
        k = apply_rope(split_heads(h @ p["self_attn.k_proj.weight"].T, config.num_key_value_heads), cos, sin)
        v = split_heads(h @ p["self_attn.v_proj.weight"].T, config.num_key_value_heads)
        if cache is not None:
            k, v = torch.cat([cache[i][0], k], dim=2), torch.cat([cache[i][1], v], dim=2)
        new_cache.append((k, v))
        attended = safe_attention(q, k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1), mask)
        x = x + merge_heads(attended) @ p["self_attn.o_proj.weight"].T
        x = x + swiglu_mlp(rms_norm(x, p["post_attention_layernorm.weight"], config.rms_norm_eps), p)
    x = rms_norm(x, weights["model.norm.weight"], config.rms_norm_eps)
    return x @ weights["lm_head.weight"].T, new_cache


def cache_bytes(cache: Cache) -> int:
    """Bytes held by the keys and values of a cache returned by ``decoder_step``."""
    return sum(k.nbytes + v.nbytes for k, v in cache)
