"""Writing an evaluation out: metrics.json, report.md and the PNG plots.

One results file: everything in DIR. Several: each in DIR/<name>/, plus a side-by-side report.md,
comparison.json and overlaid reliability and coverage plots in DIR.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from claimcourt.eval.evaluate import HEADLINE, Evaluation, to_json
from claimcourt.eval.metrics import METRICS
from claimcourt.eval.plots import confusion_matrix_plot, coverage_plot, reliability_plot
from claimcourt.eval.selective import curve_grid


@dataclass
class Written:
    metrics_json: list[Path] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)


def unique_names(paths: Sequence[Path]) -> list[str]:
    """Short names for results files: the file stem, or parent/stem when stems repeat (every run's
    results are called results.csv), numbered if that still repeats."""
    stems = [p.stem for p in paths]
    names = [f"{p.parent.name}-{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]
    out: list[str] = []
    for name in names:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "results"
        candidate, n = safe, 2
        while candidate in out:
            candidate, n = f"{safe}-{n}", n + 1
        out.append(candidate)
    return out


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or value != value:  # None or NaN
        return "n/a"
    return f"{value:.{digits}f}"


def headline_value(ev: Evaluation, key: str) -> float | None:
    if key == "coverage":
        return ev.selective.coverage
    if key == "auto_accuracy":
        return ev.selective.auto_accuracy
    return ev.metrics[key]


def _direction(key: str) -> str:
    if key in METRICS:
        return "↑" if METRICS[key].higher_is_better else "↓"
    return "↑" if key in ("coverage", "auto_accuracy") else ""


def left_out_notes(ev: Evaluation) -> list[str]:
    """What the join and the verdicts left out of the figures: said the same way in the terminal and
    in report.md."""
    es = ev.data
    notes = []
    if es.results_not_in_gold:
        notes.append(f"{es.results_not_in_gold} results rows have no gold label (left out)")
    if es.not_in_results:
        notes.append(f"{es.not_in_results} gold labels have no results row (left out)")
    if es.errors:
        notes.append(f"{es.errors} claims failed in the run (no verdict): left out of every metric but counted")
    if es.unreadable:
        notes.append(
            f"{es.unreadable} unreadable verdicts excluded from calibration and from the label metrics; "
            "they count against coverage"
        )
    return notes


def _data_lines(ev: Evaluation) -> list[str]:
    es = ev.data
    lines = [
        f"- results: `{es.results_path}` ({es.results_rows} rows); gold: `{es.gold_path}` ({es.gold_rows} labels)",
        f"- evaluated: **{es.n}** claims present in both",
    ]
    lines += [f"- {note}" for note in left_out_notes(ev)]
    if ev.label_p_disagreements:
        lines.append(f"- note: {ev.label_p_disagreements} claims have a Judge label that p_green does not imply")
    return lines


def calibrated_lines(ev: Evaluation) -> list[str]:
    cal, at, sel = ev.calibrated, ev.calibrated_point, ev.selective
    lines = [
        f"## Calibrated threshold (alpha {cal.alpha:.2f}, delta {cal.delta:.2f}, min n {cal.min_n})",
        "",
        cal.sentence(),
        "",
    ]
    if at is not None and cal.threshold is not None:
        lines += [
            "| threshold | coverage | auto-decided accuracy |",
            "|---|---:|---:|",
            f"| run's ({fmt(sel.threshold, 3)}) | {fmt(sel.coverage, 3)} | {fmt(sel.auto_accuracy)} |",
            f"| calibrated ({cal.threshold:.4f}) | {fmt(at.coverage, 3)} | {fmt(at.auto_accuracy)} |",
            "",
            f"Guaranteed agreement at least {fmt(cal.agreement_bound)} with {1 - cal.delta:.0%} confidence "
            "(Clopper-Pearson, fixed-sequence testing); calibrated on this file's own gold labels, so apply it "
            "to other claims of the same kind.",
            "",
        ]
    return lines


def markdown(ev: Evaluation, *, plots_prefix: str = "") -> str:
    m, c, sel = ev.metrics, ev.confusion, ev.selective
    lines = [f"# Evaluation: {ev.name}", "", *_data_lines(ev), "", "## Classification (the Judge's label)", ""]
    lines += ["| metric | value | better |", "|---|---:|:-:|"]
    for name, metric in METRICS.items():
        lines.append(f"| {name} | {fmt(m[name])} | {'higher' if metric.higher_is_better else 'lower'} |")
    lines += [
        "",
        f"Confusion matrix (n = {ev.n_labelled}; rows gold, columns Judge):",
        "",
        "| | Judge: not green | Judge: green |",
        "|---|---:|---:|",
        f"| gold: not green | {c['tn']} | {c['fp']} |",
        f"| gold: green | {c['fn']} | {c['tp']} |",
        "",
        f"![confusion matrix]({plots_prefix}confusion_matrix.png)",
        "",
        "## Calibration",
        "",
        f"ECE **{fmt(m['ece'])}**, Brier **{fmt(m['brier'])}** over {ev.n_calibrated} claims with a p_green "
        f"({ev.data.unreadable} unreadable verdicts excluded). Confidence c = max(p, 1-p); "
        "bin = min(floor(10c), 9).",
        "",
        "| bin | claims | share | mean confidence | accuracy | gap |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for b in ev.bins:
        if b.count:
            lines.append(
                f"| [{b.lower:.1f}, {b.upper:.1f}) | {b.count} | {b.share:.3f} | {fmt(b.mean_confidence)} | "
                f"{fmt(b.accuracy)} | {fmt(b.gap)} |"
            )
    lines += [
        "",
        f"![reliability diagram]({plots_prefix}reliability.png)",
        "",
        "## Selective prediction",
        "",
        f"Threshold: **{fmt(sel.threshold, 3)}** ({sel.threshold_source}).",
        "",
        "| | claims | accuracy |",
        "|---|---:|---:|",
        f"| decided by the Judge (coverage {fmt(sel.coverage, 3)}) | {sel.auto_n} | {fmt(sel.auto_accuracy)} |",
        f"| routed to a person: the Judge's label | {sel.routed_n} | {fmt(sel.routed_accuracy)} |",
    ]
    if sel.final_accuracy is not None:
        lines.append(f"| final labels after human decisions | {sel.final_n} | {fmt(sel.final_accuracy)} |")
    lines.append(
        f"\n{sel.pending_review} claims wait for a person, {sel.human} were decided by one."
        if sel.pending_review or sel.human
        else ""
    )
    lines += [
        "",
        "Accuracy-coverage (routing recomputed from the confidence for each threshold):",
        "",
        "| threshold | coverage | auto-decided | accuracy |",
        "|---:|---:|---:|---:|",
    ]
    for p in curve_grid(ev.curve, step=0.05):
        lines.append(f"| {p.threshold:.2f} | {p.coverage:.3f} | {p.n_auto} | {fmt(p.auto_accuracy)} |")
    lines += ["", f"![accuracy-coverage curve]({plots_prefix}coverage.png)", ""]
    lines += calibrated_lines(ev)
    search = ev.search
    if search is not None:
        lines += ["## Threshold for a target accuracy", ""]
        if search.threshold is None:
            lines.append(f"No threshold reaches an auto-decided accuracy of {search.target:.2f} on this gold set.")
        else:
            ci = search.threshold_ci
            lines.append(
                f"Lowest threshold whose auto-decided accuracy reaches {search.target:.2f}: "
                f"**{search.threshold:.4f}** (coverage {fmt(search.coverage, 3)}, accuracy "
                f"{fmt(search.auto_accuracy)} on {search.n_auto} claims)."
            )
            lines.append(
                f"Bootstrap ({search.resamples} resamples) 95% interval of the threshold: "
                + (f"{ci[0]:.4f} to {ci[1]:.4f}" if ci else "n/a")
                + (
                    f"; of the accuracy at it: {search.accuracy_ci[0]:.4f} to {search.accuracy_ci[1]:.4f}"
                    if search.accuracy_ci
                    else ""
                )
                + f"; {search.resamples_without} resamples found no threshold."
            )
        for warning in search.warnings:
            lines.append(f"\n> **Warning:** {warning}")
        lines.append("")
    return "\n".join(lines) + "\n"


def comparison_markdown(evaluations: Sequence[Evaluation], names: Sequence[str]) -> str:
    header = "| | " + " | ".join(names) + " |"
    lines = ["# Evaluation: side by side", "", header, "|---|" + "---:|" * len(names)]
    for key in HEADLINE:
        values = " | ".join(fmt(headline_value(ev, key)) for ev in evaluations)
        lines.append(f"| {key} {_direction(key)} | {values} |")
    lines.append("| claims evaluated | " + " | ".join(str(ev.data.n) for ev in evaluations) + " |")
    lines.append("| threshold | " + " | ".join(fmt(ev.selective.threshold, 3) for ev in evaluations) + " |")
    if any(ev.search is not None for ev in evaluations):
        cells = []
        for ev in evaluations:
            s = ev.search
            cells.append("n/a" if s is None or s.threshold is None else f"{s.threshold:.4f}")
        lines.append("| threshold for target | " + " | ".join(cells) + " |")
    lines += ["", "![reliability](reliability.png)", "", "![accuracy-coverage](coverage.png)", ""]
    lines += [f"- [{name}]({name}/report.md)" for name in names]
    return "\n".join(lines) + "\n"


def _write_json(path: Path, payload: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def write_one(ev: Evaluation, out_dir: Path, written: Written) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    written.metrics_json.append(_write_json(out_dir / "metrics.json", to_json(ev)))
    written.plots.append(confusion_matrix_plot(ev, out_dir / "confusion_matrix.png"))
    written.plots.append(reliability_plot([ev], out_dir / "reliability.png"))
    written.plots.append(coverage_plot([ev], out_dir / "coverage.png"))
    report = out_dir / "report.md"
    report.write_text(markdown(ev), encoding="utf-8")
    written.reports.append(report)


def write_outputs(evaluations: Sequence[Evaluation], out_dir: Path) -> Written:
    written = Written()
    if len(evaluations) == 1:
        write_one(evaluations[0], out_dir, written)
        return written
    names = [ev.name for ev in evaluations]
    for ev in evaluations:
        write_one(ev, out_dir / ev.name, written)
    _write_json(out_dir / "comparison.json", {ev.name: to_json(ev) for ev in evaluations})
    written.plots.append(reliability_plot(evaluations, out_dir / "reliability.png"))
    written.plots.append(coverage_plot(evaluations, out_dir / "coverage.png"))
    report = out_dir / "report.md"
    report.write_text(comparison_markdown(evaluations, names), encoding="utf-8")
    written.reports.append(report)
    return written
