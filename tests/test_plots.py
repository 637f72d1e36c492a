"""Plot helpers return a Figure with the expected layout and refuse input they cannot draw."""

import matplotlib

matplotlib.use("Agg")  # tests draw off-screen; notebooks use the inline backend

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from utils.plots import attention_grid, head_scores, stack_attentions, token_heatmap


def fake_attentions(layers=3, heads=4, seq=5, batch=2):
    """What a model returns with output_attentions=True: one (batch, heads, q, k) tensor per layer."""
    torch.manual_seed(0)
    return tuple(torch.rand(batch, heads, seq, seq).softmax(-1) for _ in range(layers))


def test_stack_attentions_takes_one_batch_item():
    attentions = fake_attentions()
    stacked = stack_attentions(attentions, batch_index=1)
    assert stacked.shape == (3, 4, 5, 5)
    np.testing.assert_allclose(stacked[2, 3], attentions[2][1, 3].numpy())
    np.testing.assert_allclose(stacked.sum(-1), 1.0, rtol=1e-5)


def test_grid_has_one_map_per_layer_and_head():
    fig = attention_grid(fake_attentions(), tokens=list("abcde"), highlight={(1, 2): "previous token"})
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 * 4
    assert fig.axes[0].get_title() == "head 0"
    assert fig.axes[4].get_ylabel() == "layer 1"
    framed = fig.axes[1 * 4 + 2]
    assert any(t.get_text() == "previous token" for t in framed.texts)
    assert framed.spines["left"].get_edgecolor() == (1.0, 0.0, 0.0, 1.0)


def test_grid_accepts_a_stacked_array():
    fig = attention_grid(np.full((2, 3, 4, 4), 0.25))
    assert len(fig.axes) == 6


def test_empty_tuple_explains_the_sdpa_trap():
    with pytest.raises(ValueError, match='attn_implementation="eager"'):
        attention_grid(())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tokens": list("abc")}, "3 token labels for a matrix side of 5"),
        ({"highlight": {(3, 0): "x"}}, "cannot highlight layer 3 head 0: the model has 3 layers x 4 heads"),
        ({"batch_index": 2}, "batch_index 2 is out of range for a batch of 2"),
    ],
)
def test_grid_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        attention_grid(fake_attentions(), **kwargs)


def test_layers_must_match_and_be_square():
    with pytest.raises(ValueError, match="every layer must have the same shape"):
        stack_attentions([np.ones((2, 3, 3)), np.ones((2, 4, 4))])
    with pytest.raises(ValueError, match="self-attention maps are square"):
        stack_attentions(np.ones((1, 2, 3, 4)))
    with pytest.raises(ValueError, match=r"must be \(layers, heads, q, k\)"):
        stack_attentions(np.ones((2, 3, 3)))


def test_token_heatmap_labels_both_axes():
    mask = torch.tril(torch.ones(4, 4))
    fig = token_heatmap(mask, ["the", "cat", "sat", "."], annotate=True, title="causal mask")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["the", "cat", "sat", "."]
    assert len(ax.texts) == 16
    assert ax.get_title() == "causal mask"


def test_token_heatmap_refuses_mismatched_labels():
    with pytest.raises(ValueError, match="2 row labels for a matrix side of 3"):
        token_heatmap(np.eye(3), ["a", "b"])
    with pytest.raises(ValueError, match="matrix must be 2-D"):
        token_heatmap(np.ones((2, 2, 2)), ["a", "b"])


def test_head_scores_one_panel_per_pattern():
    scores = {"previous token": np.random.default_rng(0).random((3, 4)), "[CLS]": np.zeros((3, 4))}
    fig = head_scores(scores)
    assert [ax.get_title() for ax in fig.axes] == ["previous token", "[CLS]"]
    assert len(fig.axes[0].texts) == 12


def test_head_scores_wraps_panels():
    scores = {name: np.ones((2, 3)) for name in "abc"}
    fig = head_scores(scores, ncols=2)
    assert len(fig.axes) == 3  # the unused fourth panel is removed
    with pytest.raises(ValueError, match="ncols must be at least 1, got 0"):
        head_scores(scores, ncols=0)


def test_head_scores_refuses_mixed_shapes():
    with pytest.raises(ValueError, match="same"):
        head_scores({"a": np.zeros((3, 4)), "b": np.zeros((3, 5))})
    with pytest.raises(ValueError, match="no scores to plot"):
        head_scores({})
