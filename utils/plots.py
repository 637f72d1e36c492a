"""Figures for the notebooks: attention heatmaps and per-head scores.

Every helper returns a :class:`matplotlib.figure.Figure` built without pyplot, so a notebook cell that
ends with the call shows the figure exactly once, and nothing stays open in pyplot's figure list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

DEFAULT_DPI = 80  # moderate: notebooks stay small


def _as_numpy(value: object) -> np.ndarray:
    """A torch tensor, list or array as a float numpy array (detached, on the CPU)."""
    if hasattr(value, "detach"):
        value = value.detach().float().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def stack_attentions(attentions: object, batch_index: int = 0) -> np.ndarray:
    """Attention weights as one array of shape (layers, heads, queries, keys).

    Accepts what a model returns with ``output_attentions=True`` (a tuple with one
    (batch, heads, q, k) tensor per layer), a list of (heads, q, k) arrays, or an array that already
    has 4 dimensions. Raises ValueError for an empty tuple (the sdpa trap: load the model with
    ``attn_implementation="eager"``), layers of different shapes, non-square maps or a bad batch index.
    """
    if isinstance(attentions, (tuple, list)):
        if len(attentions) == 0:
            raise ValueError(
                'no attention weights (an empty tuple): load the model with attn_implementation="eager" to get them'
            )
        layers = [_as_numpy(layer) for layer in attentions]
        shapes = {layer.shape for layer in layers}
        if len(shapes) != 1:
            raise ValueError(f"every layer must have the same shape, got {sorted(shapes)}")
        per_layer = layers[0].ndim
        if per_layer == 4:
            if not -layers[0].shape[0] <= batch_index < layers[0].shape[0]:
                raise ValueError(f"batch_index {batch_index} is out of range for a batch of {layers[0].shape[0]}")
            layers = [layer[batch_index] for layer in layers]
        elif per_layer != 3:
            raise ValueError(f"each layer must be (batch, heads, q, k) or (heads, q, k), got shape {layers[0].shape}")
        stacked = np.stack(layers)
    else:
        stacked = _as_numpy(attentions)
        if stacked.ndim != 4:
            raise ValueError(f"attention array must be (layers, heads, q, k), got shape {stacked.shape}")
    if stacked.shape[-1] != stacked.shape[-2]:
        raise ValueError(f"self-attention maps are square (q == k), got {stacked.shape[-2]} x {stacked.shape[-1]}")
    return stacked


def _check_tokens(tokens: Sequence[str] | None, size: int, what: str) -> None:
    if tokens is not None and len(tokens) != size:
        raise ValueError(f"{len(tokens)} {what} labels for a matrix side of {size}")


def attention_grid(
    attentions: object,
    tokens: Sequence[str] | None = None,
    *,
    batch_index: int = 0,
    highlight: Mapping[tuple[int, int], str] | None = None,
    title: str = "",
    cell_inches: float = 1.0,
    dpi: int = DEFAULT_DPI,
) -> Figure:
    """A grid of attention heatmaps, one row per layer and one column per head.

    In each small map, row i is the query token and column j the key token it attends to
    (brighter = more attention; every row sums to 1). ``tokens`` (optional) labels the first map's
    axes. ``highlight`` maps ``(layer, head)`` (0-based) to a short label drawn over that map.
    Returns the Figure. Raises ValueError as :func:`stack_attentions` does, when ``tokens`` does not
    match the sequence length, or when a highlighted head does not exist.
    """
    weights = stack_attentions(attentions, batch_index)
    n_layers, n_heads, seq, _ = weights.shape
    _check_tokens(tokens, seq, "token")
    highlight = dict(highlight or {})
    for layer, head in highlight:
        if not (0 <= layer < n_layers and 0 <= head < n_heads):
            raise ValueError(
                f"cannot highlight layer {layer} head {head}: the model has {n_layers} layers x {n_heads} heads"
            )
    fig = Figure(figsize=(cell_inches * n_heads + 0.6, cell_inches * n_layers + 0.6), dpi=dpi)
    axes = fig.subplots(n_layers, n_heads, squeeze=False)
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            ax.imshow(weights[layer, head], cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if layer == 0:
                ax.set_title(f"head {head}", fontsize=8)
            if head == 0:
                ax.set_ylabel(f"layer {layer}", fontsize=8)
            if (layer, head) in highlight:
                for spine in ax.spines.values():  # a frame outside the map: it hides no cell
                    spine.set_edgecolor("red")
                    spine.set_linewidth(2.5)
                ax.text(
                    0.5,
                    -0.08,
                    highlight[(layer, head)],
                    transform=ax.transAxes,
                    ha="center",
                    va="top",
                    fontsize=7,
                    color="red",
                )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def token_heatmap(
    matrix: object,
    tokens: Sequence[str],
    *,
    key_tokens: Sequence[str] | None = None,
    title: str = "",
    cmap: str = "Blues",
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    annotate: bool = False,
    xlabel: str = "key (attended to)",
    ylabel: str = "query (attending)",
    dpi: int = DEFAULT_DPI,
) -> Figure:
    """One (queries x keys) matrix, e.g. an attention map or a causal mask, with token labels on both axes.

    ``tokens`` labels the rows (queries) and, unless ``key_tokens`` is given, the columns too.
    ``annotate=True`` writes each value in its cell (for small matrices). Returns the Figure.
    Raises ValueError for a matrix that is not 2-D or labels that do not match its shape.
    """
    values = _as_numpy(matrix)
    if values.ndim != 2:
        raise ValueError(f"matrix must be 2-D (queries x keys), got shape {values.shape}")
    key_tokens = tokens if key_tokens is None else key_tokens
    _check_tokens(tokens, values.shape[0], "row")
    _check_tokens(key_tokens, values.shape[1], "column")
    side = max(3.0, 0.35 * max(values.shape) + 1.5)
    fig = Figure(figsize=(side + 1.0, side), dpi=dpi)
    ax = fig.subplots()
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks(range(len(key_tokens)), key_tokens, rotation=90, fontsize=8)
    ax.set_yticks(range(len(tokens)), tokens, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if annotate:
        middle = (np.nanmax(values) + np.nanmin(values)) / 2
        for (row, col), value in np.ndenumerate(values):
            ax.text(
                col,
                row,
                f"{value:g}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if value > middle else "black",
            )
    fig.colorbar(image, ax=ax, shrink=0.8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def head_scores(
    scores: Mapping[str, object], *, ncols: int | None = None, fmt: str = ".2f", dpi: int = DEFAULT_DPI
) -> Figure:
    """One annotated (layers x heads) heatmap per pattern, to compare heads by a measured score.

    ``scores`` maps a pattern name (e.g. "previous token") to a (layers, heads) array; panels are laid
    out ``ncols`` per row (default: all in one row). The brightest cell of each map is the head that
    shows that pattern most. Returns the Figure.
    Raises ValueError for no scores, a score that is not 2-D, scores of different shapes or ``ncols < 1``.
    """
    if not scores:
        raise ValueError("no scores to plot")
    arrays = {name: _as_numpy(value) for name, value in scores.items()}
    shapes = {array.shape for array in arrays.values()}
    if any(len(shape) != 2 for shape in shapes):
        raise ValueError(f"each score must be a 2-D (layers, heads) array, got shapes {sorted(shapes)}")
    if len(shapes) != 1:
        raise ValueError(f"all scores must have the same (layers, heads) shape, got {sorted(shapes)}")
    ncols = len(arrays) if ncols is None else ncols
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    nrows = -(-len(arrays) // ncols)
    n_layers, n_heads = next(iter(shapes))
    fig = Figure(figsize=(0.5 * n_heads * ncols + 0.8, (0.45 * n_layers + 1.0) * nrows), dpi=dpi)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(arrays) :]:
        fig.delaxes(ax)
    for ax, (name, array) in zip(axes, arrays.items()):
        ax.imshow(array, cmap="magma", vmin=0.0, vmax=max(1e-9, float(array.max())))
        ax.set_title(name, fontsize=10)
        ax.set_xticks(range(n_heads), range(n_heads), fontsize=7)
        ax.set_yticks(range(n_layers), range(n_layers), fontsize=7)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        for (layer, head), value in np.ndenumerate(array):
            ax.text(
                head,
                layer,
                format(value, fmt).lstrip("0") if 0 <= value < 1 else format(value, fmt),
                ha="center",
                va="center",
                fontsize=6,
                color="black" if value > 0.6 * array.max() else "white",
            )
    fig.tight_layout()
    return fig
