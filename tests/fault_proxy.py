"""A small HTTP proxy process in front of a real server, for the fault tests and the overhead benchmark.

It forwards every request to --upstream and can answer the first --fail-first POSTs with 503 (the
server's own answer follows from the next), or hold the first --delay-first POSTs for --delay-s seconds
before forwarding (a client with a shorter timeout sees a timeout), or answer 401 without --require-key's
key. GET /__stats reports what it saw:
POSTs answered, 503s sent, and the most requests in flight at once.

    python tests/fault_proxy.py --port P --upstream http://127.0.0.1:Q [--fail-first N] [--delay-first N --delay-s S]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "host"}


def build_app(upstream: str, fail_first: int, delay_first: int, delay_s: float, require_key: str) -> Starlette:
    stats: dict[str, int] = {"posts": 0, "failed": 0, "delayed": 0, "in_flight": 0, "peak_in_flight": 0}
    client = httpx.AsyncClient(base_url=upstream, timeout=None, limits=httpx.Limits(max_connections=1024))

    async def stats_view(request: Request) -> Response:
        return JSONResponse(stats)

    async def forward(request: Request) -> Response:
        body = await request.body()
        if require_key and request.headers.get("authorization") != f"Bearer {require_key}":
            return JSONResponse({"error": {"message": "invalid API key (fault proxy)"}}, status_code=401)
        is_post = request.method == "POST"
        if is_post:
            stats["posts"] += 1
            if stats["failed"] < fail_first:
                stats["failed"] += 1
                return JSONResponse({"error": {"message": "overloaded (fault proxy)"}}, status_code=503)
        stats["in_flight"] += 1
        stats["peak_in_flight"] = max(stats["peak_in_flight"], stats["in_flight"])
        try:
            if is_post and stats["delayed"] < delay_first:
                stats["delayed"] += 1
                await asyncio.sleep(delay_s)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
            try:
                reply = await client.request(
                    request.method, request.url.path, params=request.query_params, content=body, headers=headers
                )
            except httpx.HTTPError as exc:
                return JSONResponse({"error": {"message": f"upstream: {exc}"}}, status_code=502)
            out = {k: v for k, v in reply.headers.items() if k.lower() not in _HOP | {"content-encoding"}}
            return Response(reply.content, status_code=reply.status_code, headers=out)
        finally:
            stats["in_flight"] -= 1

    methods: Any = ["GET", "POST"]
    return Starlette(
        routes=[Route("/__stats", stats_view), Route("/{path:path}", forward, methods=methods)],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--delay-first", type=int, default=0)
    parser.add_argument("--delay-s", type=float, default=0.0)
    parser.add_argument("--require-key", default="", help="answer 401 unless this bearer key is sent")
    args = parser.parse_args()
    app = build_app(args.upstream, args.fail_first, args.delay_first, args.delay_s, args.require_key)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
