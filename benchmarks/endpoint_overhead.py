"""Client overhead of the endpoint profile: `claimcourt run --profile endpoint` against a bare async loop
that sends the same requests to the same server (no graph, no retrieval, no store).

The tiny models of tests/hf_tiny.py are served by a real `transformers serve` on a free loopback port,
behind tests/fault_proxy.py (no faults), which counts the requests in flight that the server saw.
1. claimcourt: the Runner over N claims (graph, MiniLM retrieval, Chroma, checkpointer, ledger,
   results files), with the prompts recorded;
   then again with the claims' vectors computed before the clock starts (what the client costs
   besides embedding, which the bare loop does not do);
2. bare: for each claim, the recorded Advocate and Skeptic prompts at once, then the Judge's JSON
   request (and its repair where the reply was not valid JSON, as the run did), as many claims at once
   as the run's max_concurrency, with the openai client alone.
Prints claims/s of both, the ratio (target >= 0.8), the peak requests in flight, and the machine's load.
On a machine whose cores other work shares, one pair of runs moves with what that work does:
`--rounds N` then runs N more rounds, each a claimcourt run (a new run id, so the claims are embedded
again) and a bare-loop run against the same server, and prints the medians and their ratio.

    python benchmarks/endpoint_overhead.py [--claims 60] [--concurrency 16] [--rounds 0]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.endpoint_support import endpoint_toml, fault_proxy, proxy_stats, transformers_serve, warm  # noqa: E402
from tests.hf_tiny import build_tiny_models  # noqa: E402

from claimcourt.config import load_settings  # noqa: E402
from claimcourt.jobs.index import index_file  # noqa: E402
from claimcourt.jobs.runner import Runner  # noqa: E402
from claimcourt.models.judge_json import parse_judge_answer  # noqa: E402
from claimcourt.prompts import judge as judge_prompts  # noqa: E402
from claimcourt.tables import ClaimTable  # noqa: E402


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


async def bare_loop(url: str, debates: list[dict[str, Any]], models: tuple[str, str], concurrency: int) -> float:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0)
    debater, judge = models
    slots = asyncio.Semaphore(concurrency)

    async def chat(model: str, messages: list[dict[str, str]], max_tokens: int) -> str:
        reply = await client.chat.completions.create(
            model=model,
            messages=messages,
            max_tokens=max_tokens,
            temperature=0.0,  # type: ignore[arg-type]
        )
        return reply.choices[0].message.content or ""

    async def one(debate: dict[str, Any], tokens: tuple[int, int]) -> None:
        async with slots:
            await asyncio.gather(
                *(
                    chat(debater, [{"role": "user", "content": debate[r]["prompt"]}], tokens[0])
                    for r in ("advocate", "skeptic")
                )
            )
            messages = [{"role": "user", "content": debate["verdict"]["prompt"]}]
            reply = await chat(judge, messages, tokens[1])
            try:
                parse_judge_answer(reply)
            except ValueError as exc:
                messages += [
                    {"role": "assistant", "content": reply},
                    {"role": "user", "content": judge_prompts.JUDGE_JSON_REPAIR.format(error=exc)},
                ]
                await chat(judge, messages, tokens[1])

    started = time.perf_counter()
    await asyncio.gather(*(one(d, (6, 16)) for d in debates))
    elapsed = time.perf_counter() - started
    await client.close()
    return len(debates) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "silver_claims.csv")
    parser.add_argument("--claims", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=0, help="more rounds of both, alternating; medians")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with args.data.open(encoding="utf-8", newline="") as fh:
        silver = [{"id": r["id"], "text": r["text"], "label": r["label"]} for r in csv.DictReader(fh)]
    root = Path(tempfile.mkdtemp(prefix="endpoint-bench-"))
    load_before = os.getloadavg()
    server = proxy = run_proxy = None
    try:
        tiny = build_tiny_models(root / "models")
        server = transformers_serve(root / "serve.log").start()
        warm(server, tiny)
        proxy = fault_proxy(server, root / "proxy.log").start()
        workspace = root / "ws"
        index_file(write_rows(root / "labelled.csv", silver[:80]), load_settings(overrides={"workspace": workspace}))
        toml = endpoint_toml(proxy.url, tiny).replace("max_concurrency = 8", f"max_concurrency = {args.concurrency}")
        (workspace / "claimcourt.toml").write_text(toml, encoding="utf-8")
        batch = write_rows(
            root / "batch.csv", [{"id": r["id"], "text": r["text"]} for r in silver[400 : 400 + args.claims]]
        )
        settings = load_settings(overrides={"workspace": workspace})
        runner = Runner(settings)
        summary = asyncio.run(runner.run(ClaimTable(batch), run_id="bench"))
        run_rate = summary.progress.rate
        run_peak = proxy_stats(proxy)["peak_in_flight"]
        texts = [r["text"] for r in silver[400 : 400 + args.claims]]

        async def with_vectors_ready() -> float:
            prefetched = runner.deps.search.prefetch(texts)
            if prefetched is not None:
                await prefetched
            return (await runner.run(ClaimTable(batch), run_id="bench-warm")).progress.rate

        warm_rate = asyncio.run(with_vectors_ready())
        debates = [json.loads(line) for line in summary.results_jsonl.read_text().splitlines()]
        run_proxy = proxy  # kept for the rounds' claimcourt runs, whose settings name it
        proxy = fault_proxy(server, root / "proxy2.log").start()  # fresh counters for the bare loop
        models = (str(tiny.phi3), str(tiny.mistral))
        bare_rate = asyncio.run(bare_loop(proxy.url, debates, models, args.concurrency))
        bare_peak = proxy_stats(proxy)["peak_in_flight"]
        rounds: list[tuple[float, float]] = []
        for index in range(args.rounds):
            run = asyncio.run(runner.run(ClaimTable(batch), run_id=f"bench-round-{index}")).progress.rate
            rounds.append((run, asyncio.run(bare_loop(proxy.url, debates, models, args.concurrency))))
            print(f"round {index + 1}: claimcourt {rounds[-1][0]:.2f} claims/s, bare {rounds[-1][1]:.2f} claims/s")
    finally:
        for process in (run_proxy, proxy, server):
            if process is not None:
                process.stop()
        shutil.rmtree(root, ignore_errors=True)
    load_after = os.getloadavg()
    print(f"claims: {args.claims}, max_concurrency / max_in_flight: {args.concurrency} / 64, cores: {os.cpu_count()}")
    print(
        f"claimcourt run --profile endpoint: {run_rate:.2f} claims/s, peak requests in flight at the server: {run_peak}"
    )
    print(
        f"bare async loop, same requests:    {bare_rate:.2f} claims/s, "
        f"peak requests in flight at the server: {bare_peak}"
    )
    print(f"ratio claimcourt / bare: {run_rate / bare_rate:.2f} (target >= 0.8)")
    print(f"with the claims' MiniLM vectors computed before the clock starts: {warm_rate:.2f} claims/s,")
    print(f"  ratio {warm_rate / bare_rate:.2f} (graph, Chroma queries, checkpoints, ledger, client only)")
    if rounds:
        run_median = statistics.median(r for r, _ in rounds)
        bare_median = statistics.median(b for _, b in rounds)
        print(
            f"{len(rounds)} rounds, medians: claimcourt {run_median:.2f}, bare {bare_median:.2f} claims/s, "
            f"ratio {run_median / bare_median:.2f} (target >= 0.8)"
        )
    print(
        f"load average before: {load_before[0]:.1f}, after: {load_after[0]:.1f} "
        f"(1-minute, {os.cpu_count()} cores shared)"
    )


if __name__ == "__main__":
    main()
