"""Training-dynamics metrics (Swayamdipta et al., 2020) and the data-map figure.

Given the gold-label probabilities of every training example after each epoch:

- ``confidence``: the mean over epochs;
- ``variability``: the *population* standard deviation over epochs (``np.std`` with ddof=0,
  as ``allenai/cartography``'s ``compute_train_dy_metrics`` computes it);
- ``correctness``: the fraction of epochs in which the arg-max prediction equals the gold label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax over the last axis, numerically stable."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def gold_probabilities(probs: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """``probs`` is (epochs, examples, classes); returns (epochs, examples) for the gold class."""
    return np.take_along_axis(probs, gold[None, :, None], axis=2)[:, :, 0]


def confidence(gold_probs: np.ndarray) -> np.ndarray:
    return gold_probs.mean(axis=0)


def variability(gold_probs: np.ndarray) -> np.ndarray:
    return gold_probs.std(axis=0, ddof=0)


def correctness(probs: np.ndarray, gold: np.ndarray) -> np.ndarray:
    return (probs.argmax(axis=2) == gold[None, :]).mean(axis=0)


def ambiguous_mask(variabilities: np.ndarray, labels: np.ndarray, quantile: float) -> np.ndarray:
    """True for examples whose variability is above the ``quantile`` of their own label."""
    mask = np.zeros(len(variabilities), dtype=bool)
    for label in np.unique(labels):
        members = labels == label
        threshold = np.quantile(variabilities[members], quantile)
        mask |= members & (variabilities > threshold)
    return mask


def write_data_map(
    path: Path,
    variabilities: np.ndarray,
    confidences: np.ndarray,
    correctnesses: np.ndarray,
    title: str,
) -> None:
    """Variability (x) against confidence (y), coloured by correctness, as in the paper."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 6))
    points = axis.scatter(
        variabilities,
        confidences,
        c=correctnesses,
        cmap="coolwarm_r",
        vmin=0.0,
        vmax=1.0,
        s=12,
        alpha=0.8,
        edgecolors="none",
    )
    figure.colorbar(points, ax=axis, label="correctness")
    axis.set_xlabel("variability")
    axis.set_ylabel("confidence")
    axis.set_xlim(0, max(0.5, float(variabilities.max(initial=0.0)) * 1.05))
    axis.set_ylim(0, 1)
    axis.set_title(title)
    for text, xy in (("easy-to-learn", (0.02, 0.95)), ("hard-to-learn", (0.02, 0.03))):
        axis.annotate(text, xy=xy, xycoords="axes fraction", fontsize=9, color="dimgray")
    axis.annotate(
        "ambiguous", xy=(0.75, 0.5), xycoords="axes fraction", fontsize=9, color="dimgray"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
