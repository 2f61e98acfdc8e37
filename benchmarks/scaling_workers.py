"""Many workers on one run (Postgres storage) against one, and Postgres against SQLite.

Builds a workspace indexed with 400 real labelled claims, then runs a batch of N claims (default
2,000: the silver texts repeated under new ids) with the offline profile:
- with a Postgres storage_url, by 1, 2 and 4 `claimcourt run --run-id ...` processes at once (one
  fresh database each), timing from start to the last process's exit (process start and model load
  included: that is what a user waits for);
- with the workspace's SQLite storage, by one process.
Prints claims/s, the ratio of each worker count to one worker, and Postgres/SQLite time for one
worker (target <= 1.3). Also the load average before and after, since the machine may be shared.

    python benchmarks/scaling_workers.py [--claims 2000] [--workers 1,2,4]

Needs PostgreSQL's binaries (initdb, postgres): a throwaway server is started on a free port.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pg_support import fresh_database, running_postgres  # noqa: E402

from claimcourt.config import load_settings  # noqa: E402
from claimcourt.jobs.index import index_file  # noqa: E402


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _timed_run(workspace: Path, batch: Path, run_id: str, workers: int, storage_url: str | None) -> float:
    cmd = [sys.executable, "-m", "claimcourt.cli.app", "run", str(batch), "--run-id", run_id, "-w", str(workspace)]
    if storage_url:
        cmd += ["--storage-url", storage_url]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*cmd, "-o", str(workspace / f"{run_id}-{i}.csv")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"worker failed: {err[-500:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data" / "silver_claims.csv")
    parser.add_argument("--claims", type=int, default=2_000)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    with args.data.open(encoding="utf-8", newline="") as fh:
        silver = [{"id": r["id"], "text": r["text"], "label": r["label"]} for r in csv.DictReader(fh)]
    tmp = Path(tempfile.mkdtemp(prefix="claimcourt-scaling-"))
    workspace = tmp / "ws"
    index_file(
        _write(tmp / "labelled.csv", silver[:400]), load_settings(overrides={"workspace": workspace}, environ={})
    )
    texts = [r["text"] for r in silver[400:]]
    batch = _write(tmp / "batch.csv", [{"id": f"b{i}", "text": texts[i % len(texts)]} for i in range(args.claims)])
    print(
        f"{args.claims} claims, offline profile, {os.cpu_count()} CPU cores; load average before: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    sqlite_s = _timed_run(workspace, batch, "sqlite-1", 1, None)
    print(f"sqlite, 1 worker: {sqlite_s:.1f}s, {args.claims / sqlite_s:.1f} claims/s")
    with running_postgres() as server:
        base: float | None = None
        for n in (int(x) for x in args.workers.split(",")):
            seconds = _timed_run(workspace, batch, f"pg-{n}", n, fresh_database(server))
            base = base or seconds
            print(
                f"postgres, {n} worker(s): {seconds:.1f}s, {args.claims / seconds:.1f} claims/s, "
                f"{base / seconds:.2f}x one worker"
            )
            if n == 1:
                print(f"postgres / sqlite time, 1 worker: {seconds / sqlite_s:.2f} (target <= 1.3)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
