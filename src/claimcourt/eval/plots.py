"""PNG plots with matplotlib's Agg canvas: no display, no pyplot global state (safe in any process)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from claimcourt.eval.evaluate import Evaluation
from claimcourt.eval.selective import curve_grid

_DPI = 110


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def confusion_matrix_plot(ev: Evaluation, path: Path) -> Path:
    c = ev.confusion
    cells = [[c["tn"], c["fp"]], [c["fn"], c["tp"]]]
    total = sum(c.values()) or 1
    fig = _figure(4.2, 3.8)
    ax = fig.subplots()
    image = ax.imshow(cells, cmap="Greens", vmin=0, vmax=max(max(row) for row in cells) or 1)
    for i in range(2):
        for j in range(2):
            dark = cells[i][j] > 0.6 * (max(max(row) for row in cells) or 1)
            ax.text(
                j,
                i,
                f"{cells[i][j]}\n{cells[i][j] / total:.0%}",
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontsize=12,
            )
    ax.set_xticks([0, 1], ["not green", "green"])
    ax.set_yticks([0, 1], ["not green", "green"])
    ax.set_xlabel("Judge")
    ax.set_ylabel("gold")
    ax.set_title(f"{ev.name}: accuracy {ev.metrics['accuracy']:.3f} (n={ev.n_labelled})", fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _save(fig, path)


def reliability_plot(evaluations: Sequence[Evaluation], path: Path) -> Path:
    """Accuracy against mean confidence per bin (points on the diagonal are calibrated), with the
    share of claims in each bin underneath."""
    fig = _figure(5.2, 5.6)
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    width = 0.1 / max(1, len(evaluations))
    for k, ev in enumerate(evaluations):
        filled = [b for b in ev.bins if b.count]
        label = f"{ev.name} (ECE {ev.metrics['ece']:.3f})" if len(evaluations) > 1 else f"ECE {ev.metrics['ece']:.3f}"
        top.plot(
            [b.mean_confidence for b in filled],
            [b.accuracy for b in filled],
            marker="o",
            label=label,
        )
        bottom.bar(
            [b.lower + width * (k + 0.5) for b in ev.bins],
            [b.share for b in ev.bins],
            width=width,
            label=ev.name,
            edgecolor="white",
        )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.set_ylabel("accuracy of the predicted label")
    top.set_title("reliability: confidence c = max(p, 1-p), 10 bins", fontsize=10)
    top.legend(loc="upper left", fontsize=8)
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("share")
    bottom.set_xticks([i / 10 for i in range(11)])
    return _save(fig, path)


def coverage_plot(evaluations: Sequence[Evaluation], path: Path) -> Path:
    """Auto-decided accuracy against coverage as the threshold moves; the run's threshold, the calibrated
    threshold (diamond) and a found threshold are marked."""
    fig = _figure(5.6, 4.4)
    ax = fig.subplots()
    several = len(evaluations) > 1
    lowest = 1.0
    for k, ev in enumerate(evaluations):
        points = [p for p in ev.curve.points() if p.auto_accuracy is not None]
        lowest = min([lowest, *(p.auto_accuracy for p in points if p.auto_accuracy is not None)])
        (line,) = ax.step(
            [p.coverage for p in points],
            [p.auto_accuracy for p in points],
            where="post",
            label=ev.name if len(evaluations) > 1 else "auto-decided accuracy",
        )
        sel = ev.selective
        if sel.threshold is not None:
            at_run = ev.curve.at(sel.threshold)
            if at_run.auto_accuracy is not None:
                ax.plot([at_run.coverage], [at_run.auto_accuracy], "o", color=line.get_color())
                if not several:  # with several curves the labels collide; the legend says what the marks are
                    ax.annotate(
                        f"run threshold {sel.threshold:.2f}", (at_run.coverage, at_run.auto_accuracy), fontsize=8
                    )
        cal, at = ev.calibrated, ev.calibrated_point
        if cal.threshold is not None and at is not None and at.auto_accuracy is not None:
            ax.plot([at.coverage], [at.auto_accuracy], "D", color=line.get_color())
            if not several:
                ax.annotate(
                    f"calibrated {cal.threshold:.3f} (agreement >= {1 - cal.alpha:.2f} w.p. {1 - cal.delta:.2f})",
                    (at.coverage, at.auto_accuracy),
                    fontsize=8,
                    xytext=(4, 6),
                    textcoords="offset points",
                )
        search = ev.search
        if search is not None:
            ax.axhline(search.target, linestyle=":", color="grey", linewidth=1)
            if search.threshold is not None and search.coverage is not None and search.auto_accuracy is not None:
                ax.plot([search.coverage], [search.auto_accuracy], "s", color=line.get_color())
                if not several:
                    ax.annotate(
                        f"lowest threshold for {search.target:.2f}: {search.threshold:.3f}",
                        (search.coverage, search.auto_accuracy),
                        fontsize=8,
                        xytext=(-4, -12),
                        textcoords="offset points",
                        ha="right",
                    )
        if k > 0:
            continue  # threshold numbers on the first curve only
        for p in curve_grid(ev.curve, step=0.1):
            if p.auto_accuracy is not None and p.n_auto:
                ax.annotate(f"{p.threshold:.1f}", (p.coverage, p.auto_accuracy), fontsize=6, color="grey")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(max(0.0, min(0.5, lowest - 0.05)), 1.02)
    ax.set_xlabel("coverage (share decided by the Judge)")
    ax.set_ylabel("accuracy on auto-decided claims")
    title = "accuracy-coverage (grey numbers: thresholds)"
    if several:
        title += "\ncircle: run threshold; square: lowest threshold for the target"
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)
