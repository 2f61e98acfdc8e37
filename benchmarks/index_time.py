"""Where `claimcourt index` spends its time on the silver claims (599), against embedding alone.

1. embedding alone: the offline embedder (all-MiniLM-L6-v2) loaded, then every claim's text embedded
   in one call, as a bare sentence-transformers loop would;
2. `index_file` into a fresh workspace, timed by the stages it reports (embedding, including the
   model's load and Chroma's writes; fitting the offline Judge) and in all.
Prints wall and CPU seconds of each (CPU is what other work on a busy machine does not inflate) and the
ratio index / embedding alone (target <= 1.5, issue 29).

    python benchmarks/index_time.py [--file ../shared/data/silver_claims.csv]
"""

from __future__ import annotations

import argparse
import itertools
import resource
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def clock() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), usage.ru_utime + usage.ru_stime


def since(start: tuple[float, float]) -> tuple[float, float]:
    now = clock()
    return now[0] - start[0], now[1] - start[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=ROOT.parent / "shared" / "data" / "silver_claims.csv")
    args = parser.parse_args()

    from claimcourt.config import load_settings
    from claimcourt.jobs.index import index_file
    from claimcourt.retrieval.embeddings import SentenceTransformerEmbedder
    from claimcourt.tables import ClaimTable

    table = ClaimTable(args.file, with_labels=True)
    texts = [claim.text for chunk in table.chunks(10_000) for claim in chunk]
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(overrides={"workspace": Path(tmp) / "ws"}, environ={})
        start = clock()
        embedder = SentenceTransformerEmbedder(settings.embedding_model, batch_size=settings.retrieval.batch_size)
        embedder.embed(texts)
        alone = since(start)
        print(
            f"embedding alone ({len(texts)} claims, model load included): {alone[0]:.1f} s wall, {alone[1]:.1f} s cpu"
        )

        marks: dict[str, tuple[float, float]] = {"reading the file": (0.0, 0.0)}
        start = clock()

        def seen(stage: str, done: int, total: int) -> None:
            marks.setdefault(stage, since(start))

        report = index_file(args.file, settings, on_progress=seen)
        total = since(start)
        stages = [*marks.items(), ("end", total)]
        for (stage, at), (_, following) in itertools.pairwise(stages):
            print(f"  {stage}: {following[0] - at[0]:.1f} s wall, {following[1] - at[1]:.1f} s cpu")
        print(f"index ({report.rows} rows, {report.added} added): {total[0]:.1f} s wall, {total[1]:.1f} s cpu")
        print(f"index / embedding alone: {total[0] / alone[0]:.2f} wall, {total[1] / alone[1]:.2f} cpu")


if __name__ == "__main__":
    main()
