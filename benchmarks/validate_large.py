"""Validating a large claim file before a run: time, and memory beyond what the process held before.

Writes a CSV of N claims (default 1,000,000: the silver texts repeated under new ids, ~1 GB) into a
temporary folder, then in a fresh process times `ClaimTable(path).validate()` (every row read and
checked, every id checked for duplicates) and reports the peak RSS above the RSS before it started.

    python benchmarks/validate_large.py [--rows 1000000] [--data ../shared/data/silver_claims.csv]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys, time
from pathlib import Path
from claimcourt.tables import ClaimTable

def kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])

before = kib("VmRSS")
started = time.perf_counter()
rows = ClaimTable(sys.argv[1]).validate()
took = time.perf_counter() - started
print(f"{rows} rows validated in {took:.1f}s ({rows / took:,.0f} rows/s); "
      f"peak RSS {kib('VmHWM') / 1024:.0f} MiB, {(kib('VmHWM') - before) / 1024:+.0f} MiB over the "
      f"{before / 1024:.0f} MiB before validation")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data" / "silver_claims.csv")
    args = parser.parse_args()
    with args.data.open(encoding="utf-8", newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "claims.csv"
        started = time.perf_counter()
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "text"])
            for i in range(args.rows):
                writer.writerow([f"v{i:08d}", texts[i % len(texts)]])
        size = path.stat().st_size / 2**20
        print(f"wrote {args.rows} rows ({size:.0f} MiB) in {time.perf_counter() - started:.1f}s", flush=True)
        subprocess.run([sys.executable, "-c", CHILD, str(path)], check=True)


if __name__ == "__main__":
    main()
