"""PNG figures: CMC curves, same/different similarity histograms, ROC.

matplotlib is imported lazily and drawn through its object API on an Agg canvas: no global
backend switch, no window, safe in a server thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.core.errors import DependencyError
from reidcam.match.calibration import Calibration, PairScores, roc_curve


def _figure(width: float = 6.0, height: float = 4.0) -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise DependencyError("plots need matplotlib: pip install matplotlib") from exc
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(str(path))
    return path


def plot_cmc(curves: Mapping[str, NDArray[np.floating]], path: Path, title: str = "CMC") -> Path:
    """CMC curves (label -> cmc array, rank 1 first), rank on x, accuracy on y."""
    fig, ax = _figure()
    for label, cmc in curves.items():
        ranks = np.arange(1, len(cmc) + 1)
        ax.plot(
            ranks, np.asarray(cmc) * 100, marker="o", markersize=3, label=f"{label} (R1 {cmc[0] * 100:.1f}%)"
        )
    lowest = min((float(np.min(c)) for c in curves.values()), default=0.0) * 100
    ax.set_xlabel("rank")
    ax.set_ylabel("matching accuracy (%)")
    ax.set_ylim(max(0.0, lowest - 5.0), 100.5)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_similarity_hist(scores: PairScores, cal: Calibration, path: Path) -> Path:
    """Same-person and different-people similarity histograms (density) with the threshold."""
    fig, ax = _figure()
    bins = np.linspace(-0.2, 1.0, 61)
    ax.hist(
        scores.different,
        bins=bins,
        density=True,
        alpha=0.55,
        label=f"different people ({len(scores.different)})",
    )
    ax.hist(scores.same, bins=bins, density=True, alpha=0.55, label=f"same person ({len(scores.same)})")
    ax.axvline(
        cal.threshold,
        color="k",
        linestyle="--",
        label=f"threshold {cal.threshold:.3f}: FMR {cal.fmr:.4f}, TPR {cal.tpr:.3f}",
    )
    if cal.uncertain_below < cal.threshold:
        ax.axvspan(cal.uncertain_below, cal.threshold, color="orange", alpha=0.15, label="uncertain band")
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("density")
    ax.set_title(f"{cal.model_id}: similarity of labelled pairs")
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, path)


def plot_roc(cal: Calibration, path: Path) -> Path:
    """TPR against FMR (log scale) from the stored curve, with the calibrated point."""
    fig, ax = _figure()
    fmr = np.array([f for _, f, _ in cal.curve])
    tpr = np.array([t for _, _, t in cal.curve])
    floor = 0.5 / max(cal.num_different, 1)
    ax.plot(np.maximum(fmr, floor), tpr, label=cal.model_id)
    ax.scatter(
        [max(cal.fmr, floor)],
        [cal.tpr],
        color="k",
        zorder=3,
        label=f"threshold {cal.threshold:.3f} (target FMR {cal.target_fmr:g})",
    )
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false-match rate (different-people pairs accepted)")
    ax.set_ylabel("true-match rate (same-person pairs accepted)")
    ax.set_title("ROC of the threshold")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def plot_roc_compare(pairs: Mapping[str, PairScores], path: Path, title: str = "ROC") -> Path:
    """TPR against FMR (log scale) of several models' pair similarities, e.g. before/after fine-tuning."""
    fig, ax = _figure()
    floor = 1.0
    for label, scores in pairs.items():
        curve = roc_curve(scores, step=0.001)
        fl = 0.5 / max(len(scores.different), 1)
        floor = min(floor, fl)
        ax.plot([max(f, fl) for _, f, _ in curve], [t for _, _, t in curve], label=label)
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_xlabel("false-match rate (different-people pairs accepted)")
    ax.set_ylabel("true-match rate (same-person pairs accepted)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)
