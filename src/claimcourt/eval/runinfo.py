"""The threshold a results file was produced with.

In order: the --threshold flag; the run ledger of the workspace when the results belong to one of its
runs (named with --run-id, or found by the file's place in the workspace or by its claims); otherwise
inferred from the file itself: any threshold in (highest confidence sent to a person, lowest
confidence the Judge decided] explains the routing, and the configured threshold is preferred when it
lies in that interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from claimcourt.config import Settings
from claimcourt.eval.data import EvalSet
from claimcourt.store import Ledger, RunOverview, existing_store


@dataclass(frozen=True)
class RunThreshold:
    value: float | None
    source: str
    run_id: str | None = None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _matches(ledger: Ledger, run: RunOverview, es: EvalSet) -> bool:
    """The run holds the file's claims in the same numbers. A review session may since have turned
    pending claims into human ones, so those two are compared together."""
    if any(ledger.statuses(run.run_id, es.sample_ids).get(i) is None for i in es.sample_ids):
        return False
    in_file, in_run = es.status_counts, run.counts
    return (in_file.judge, in_file.sent_to_a_person, in_file.error) == (
        in_run.judge,
        in_run.sent_to_a_person,
        in_run.error,
    )


def from_ledger(es: EvalSet, settings: Settings, run_id: str | None) -> RunThreshold | None:
    store = existing_store(settings)
    if store is None:
        if run_id is not None:
            from claimcourt.errors import RunStateError

            raise RunStateError(f"unknown run id '{run_id}' (workspace {settings.workspace} has no runs)")
        return None
    ledger = store.ledger
    try:
        if run_id is not None:
            run = ledger.run(run_id)  # an unknown id is a RunStateError: the user named it
            return RunThreshold(run.threshold, f"run ledger (run '{run_id}')", run_id)
        runs = ledger.runs()
        for row in runs:
            written = [store.run_dir(row.run_id) / "results.csv", *ledger.outputs(row.run_id)]
            if any(_same_file(path, es.results_path) for path in written):
                return RunThreshold(row.run.threshold, f"run ledger (run '{row.run_id}')", row.run_id)
        matching = [row for row in runs if _matches(ledger, row, es)]
        thresholds = {row.run.threshold for row in matching}
        if len(thresholds) == 1:
            names = ", ".join(f"'{row.run_id}'" for row in matching)
            only = matching[0].run_id if len(matching) == 1 else None
            return RunThreshold(thresholds.pop(), f"run ledger (run {names}, matched by its claims)", only)
        return None
    finally:
        store.close()


def stale_results(results: Path, settings: Settings, run_id: str) -> str | None:
    """A warning when the results file is older than the run's last change (a decision made since it was
    written): it then lacks the people's latest labels."""
    if not results.exists():
        return None
    store = existing_store(settings)
    if store is None:
        return None
    try:
        changed = store.ledger.last_update(run_id)
    finally:
        store.close()
    if changed is None:
        return None
    written = datetime.fromtimestamp(results.stat().st_mtime, tz=UTC)
    if written >= datetime.fromisoformat(changed):
        return None
    return (
        f"{results} was written before run '{run_id}' last changed ({changed[:19].replace('T', ' ')} UTC): it lacks "
        f"the latest decisions; rewrite it with: claimcourt run INPUT --run-id {run_id} -o {results} (finished "
        "claims are not debated again)"
    )


def infer_threshold(es: EvalSet, configured: float) -> RunThreshold:
    low, high = es.highest_routed_confidence, es.lowest_auto_confidence
    if low is None and high is None:
        return RunThreshold(None, "unknown (no readable verdict to infer it from)")
    if (low is None or configured > low) and (high is None or configured <= high):
        return RunThreshold(configured, "inferred: the configured threshold explains the routing")
    if high is not None and (low is None or high > low):
        return RunThreshold(high, "inferred: the lowest confidence the Judge decided")
    return RunThreshold(None, "unknown (the routing does not follow one threshold)")


def run_threshold(
    es: EvalSet, *, flag: float | None, settings: Settings, run_id: str | None, configured: float
) -> RunThreshold:
    if flag is not None:
        return RunThreshold(flag, "--threshold")
    return from_ledger(es, settings, run_id) or infer_threshold(es, configured)
