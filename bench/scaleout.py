"""Stop latency and many concurrent streams (issue 3), in one run: ``make bench`` runs it after run.py.

Starts a slow fake upstream (``bench/upstream.py --delay-ms 20``: one token every 20 ms), Redis (the
local one, ``INKWELL_BENCH_REDIS_URL``), and two ``inkwell serve`` workers A and B sharing Redis and a
fresh SQLite database, with the ``openai_compatible`` provider in front of the upstream. Then:

* **stop latency**: open a stream on A, read its first ``message`` frame (to learn the task id), send a
  stop to A (same worker) or to B (cross-worker), and measure from the stop request's response to the
  end of the stream (``message_end`` read and the body closed); also from sending the stop request.
  The reference polls its stop flag once a second; the target is p99 < 100 ms.
* **many streams**: 1,000 concurrent streams on worker A (one process, one event loop), each 100
  tokens at 20 ms per token. Reports errors (any stream that is not 200 with exactly 100 ``message``
  frames and one ``message_end``: must be 0), memory per stream (RSS growth of the worker from idle to
  the moment every stream is open, divided by the number of streams) and event-loop lag (the response
  time of ``/healthz`` sampled every 50 ms while the streams run: on an idle loop it is ~1 ms).

    .venv/bin/python bench/scaleout.py [--stops 50] [--streams 1000] [--tokens 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
REDIS_URL = os.environ.get("INKWELL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "bench-secret-key-0123456789-0123456789-abcdef"

APP = """
version: "0.6.0"
kind: app
app: {name: scaleout bench, mode: completion}
model_config:
  model: {provider: %s, name: gpt-4o-mini, mode: chat}
  pre_prompt: "{{query}}"
  prompt_type: simple
  user_input_form:
    - paragraph: {variable: query, label: Query, required: true}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Processes:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url} exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up:\n{log.read_text()}")


def cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([PYTHON, "-m", "inkwell.cli", *args], env=env, cwd=ROOT, check=True, capture_output=True)
    return out.stdout.decode().strip().splitlines()[-1]


async def read_frames(resp: aiohttp.ClientResponse) -> Any:
    """Yield parsed JSON frames of an Inkwell stream."""
    buffer = b""
    async for chunk in resp.content.iter_any():
        buffer += chunk
        *frames, buffer = buffer.split(b"\n\n")
        for frame in frames:
            if frame.startswith(b"data: "):
                yield json.loads(frame[6:])


async def stop_latency(
    session: aiohttp.ClientSession, a: str, b: str, key: str, count: int
) -> dict[str, dict[str, float]]:
    headers = {"Authorization": f"Bearer {key}"}
    body = {"inputs": {"query": "stop me " * 50}, "user": "bench-stopper", "response_mode": "streaming"}
    results: dict[str, dict[str, list[float]]] = {
        "same": {"after": [], "from_send": []},
        "cross": {"after": [], "from_send": []},
    }
    for i in range(count * 2):
        kind = "same" if i % 2 == 0 else "cross"
        stop_base = a if kind == "same" else b
        async with session.post(f"{a}/v1/completion-messages", json=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            frames = read_frames(resp)
            first = await frames.__anext__()
            assert first["event"] == "message", first
            await asyncio.sleep(0.05)  # mid-stream, not at the first byte
            sent = time.perf_counter()
            async with session.post(
                f"{stop_base}/v1/completion-messages/{first['task_id']}/stop",
                json={"user": "bench-stopper"},
                headers=headers,
            ) as stop:
                assert stop.status == 200, await stop.text()
                answered = time.perf_counter()
            last = None
            async for frame in frames:
                last = frame
            ended = time.perf_counter()
            assert last is not None and last["event"] == "message_end", last
        results[kind]["after"].append((ended - answered) * 1000)
        results[kind]["from_send"].append((ended - sent) * 1000)
    summary: dict[str, dict[str, float]] = {}
    for kind, series in results.items():
        summary[kind] = {
            "n": len(series["after"]),
            "after_stop_p50_ms": percentile(series["after"], 50),
            "after_stop_p99_ms": percentile(series["after"], 99),
            "from_send_p50_ms": percentile(series["from_send"], 50),
            "from_send_p99_ms": percentile(series["from_send"], 99),
        }
    return summary


async def many_streams(
    session: aiohttp.ClientSession, base: str, key: str, pid: int, streams: int, tokens: int
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    body = {"inputs": {"query": "idle " * (tokens + 20)}, "user": "bench-many", "response_mode": "streaming"}
    await asyncio.sleep(0.5)
    idle_rss = rss_kib(pid)
    opened = 0
    all_open = asyncio.Event()
    errors: list[str] = []
    lags: list[float] = []
    peak_rss = idle_rss

    def settle() -> None:  # a stream counts once: when it opened, or when it failed
        nonlocal opened
        opened += 1
        if opened == streams:
            all_open.set()

    async def one() -> None:
        settled = False
        try:
            async with session.post(f"{base}/v1/completion-messages", json=body, headers=headers) as resp:
                if resp.status != 200:
                    errors.append(f"HTTP {resp.status}")
                    return
                messages = ends = 0
                async for chunk in resp.content.iter_any():
                    if not settled:
                        settled = True
                        settle()
                    messages += chunk.count(b'"event":"message",')
                    ends += chunk.count(b'"event":"message_end"')
                if messages != tokens or ends != 1:
                    errors.append(f"{messages} messages, {ends} message_end")
        except (TimeoutError, aiohttp.ClientError) as exc:
            errors.append(type(exc).__name__)
        finally:
            if not settled:
                settle()

    async def probe() -> None:
        nonlocal peak_rss
        while True:
            started = time.perf_counter()
            async with session.get(f"{base}/healthz") as resp:
                await resp.read()
            lags.append((time.perf_counter() - started) * 1000)
            peak_rss = max(peak_rss, rss_kib(pid))
            await asyncio.sleep(0.05)

    started = time.perf_counter()
    prober = asyncio.create_task(probe())
    tasks = [asyncio.create_task(one()) for _ in range(streams)]
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(all_open.wait(), timeout=120)
    open_rss = rss_kib(pid)
    open_after = time.perf_counter() - started
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    prober.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await prober
    return {
        "streams": streams,
        "tokens_per_stream": tokens,
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "all_open_after_s": open_after,
        "elapsed_s": elapsed,
        "idle_rss_mib": idle_rss / 1024,
        "open_rss_mib": open_rss / 1024,
        "peak_rss_mib": peak_rss / 1024,
        "kib_per_stream": (open_rss - idle_rss) / streams,
        "loop_lag_p50_ms": percentile(lags, 50),
        "loop_lag_p99_ms": percentile(lags, 99),
        "loop_lag_max_ms": max(lags) if lags else float("nan"),
        "lag_samples": len(lags),
        "ideal_stream_s": tokens * 0.02,
    }


async def measure(args: argparse.Namespace, a: str, b: str, keys: dict[str, str], pid_a: int) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=300, sock_read=120)
    # fresh connections for the stops: an idle keep-alive connection may be closed by the server
    # (uvicorn's 5 s keep-alive) just as it is reused, which would fail a sample for no reason
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True), timeout=timeout) as session:
        stops = await stop_latency(session, a, b, keys["long"], args.stops)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        many = await many_streams(session, a, keys["short"], pid_a, args.streams, args.tokens)
    return {"stop_latency": stops, "many_streams": many}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stops", type=int, default=50, help="stops per kind (same worker, cross-worker)")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (logs, database)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="inkwell-scaleout-"))
    procs = Processes()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INKWELL_")}
        long_port, short_port = free_port(), free_port()
        providers = tmp / "providers.yml"
        providers.write_text(
            "providers:\n"
            f"  long: {{type: openai_compatible, base_url: 'http://127.0.0.1:{long_port}/v1', api_key: sk-bench}}\n"
            f"  short: {{type: openai_compatible, base_url: 'http://127.0.0.1:{short_port}/v1', api_key: sk-bench}}\n"
        )
        env.update(
            {
                "INKWELL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'bench.db'}",
                "INKWELL_SECRET_KEY": SECRET,
                "INKWELL_REDIS_URL": REDIS_URL,
                "INKWELL_PROVIDERS_FILE": str(providers),
                "INKWELL_LOG_LEVEL": "warning",
                "INKWELL_UPSTREAM_MAX_CONNECTIONS": str(args.streams + 100),
            }
        )
        cli(env, "db", "upgrade")
        keys = {}
        for provider in ("long", "short"):
            app_file = tmp / f"{provider}.yml"
            app_file.write_text(APP % provider)
            keys[provider] = cli(env, "keys", "create", cli(env, "apps", "import", str(app_file)))

        # one upstream for the stops (streams long enough to stop), one for the many-streams run
        for port, tokens in ((long_port, 400), (short_port, args.tokens)):
            log = tmp / f"upstream-{port}.log"
            upstream = procs.start(
                [PYTHON, "bench/upstream.py", "--port", str(port), "--tokens", str(tokens), "--delay-ms", "20"],
                env,
                log,
            )
            time.sleep(0.5)
            if upstream.poll() is not None:
                raise SystemExit(f"upstream exited:\n{log.read_text()}")
        urls: list[str] = []
        servers: list[subprocess.Popen[bytes]] = []
        for name in ("a", "b"):
            port = free_port()
            log = tmp / f"inkwell-{name}.log"
            proc = procs.start([PYTHON, "-m", "inkwell.cli", "serve", "--port", str(port)], env, log)
            wait_http(f"http://127.0.0.1:{port}/healthz", proc, log)
            urls.append(f"http://127.0.0.1:{port}")
            servers.append(proc)
        print(
            f"inkwell scale-out bench: 2 workers sharing Redis ({REDIS_URL}) and SQLite; "
            f"upstream 20 ms per token; {args.stops} stops per kind; {args.streams} streams x {args.tokens} tokens",
            flush=True,
        )
        results = asyncio.run(measure(args, urls[0], urls[1], keys, servers[0].pid))
    finally:
        procs.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")

    stops = results["stop_latency"]
    print()
    print("stop latency (stream end after the stop request's response / after sending it)")
    print(f"{'':12} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'p50 ms':>10} {'p99 ms':>8}")
    for kind, label in (("same", "same worker"), ("cross", "cross-worker")):
        s = stops[kind]
        print(
            f"{label:12} {s['n']:>4} {s['after_stop_p50_ms']:>8.1f} {s['after_stop_p99_ms']:>8.1f} "
            f"{s['from_send_p50_ms']:>10.1f} {s['from_send_p99_ms']:>8.1f}"
        )
    worst = max(stops["same"]["after_stop_p99_ms"], stops["cross"]["after_stop_p99_ms"])
    verdict = "MET" if worst < 100 else "NOT MET"
    print(f"target p99 < 100 ms: {verdict} ({worst:.1f} ms; the reference polls once a second)")
    m = results["many_streams"]
    print()
    print(f"{m['streams']} concurrent streams on one worker, {m['tokens_per_stream']} tokens at 20 ms each")
    print(f"  errors                 {m['errors']}  {m['error_kinds'] if m['errors'] else ''}")
    print(
        f"  all open after         {m['all_open_after_s']:.2f} s; all done after {m['elapsed_s']:.2f} s "
        f"(one stream alone: {m['ideal_stream_s']:.1f} s)"
    )
    print(
        f"  worker RSS             idle {m['idle_rss_mib']:.1f} MiB, all open {m['open_rss_mib']:.1f} MiB, "
        f"peak {m['peak_rss_mib']:.1f} MiB -> {m['kib_per_stream']:.1f} KiB per stream"
    )
    print(
        f"  event-loop lag         /healthz p50 {m['loop_lag_p50_ms']:.1f} ms, p99 {m['loop_lag_p99_ms']:.1f} ms, "
        f"max {m['loop_lag_max_ms']:.1f} ms ({m['lag_samples']} samples)"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "scaleout.json").write_text(json.dumps(results, indent=2))
    print("\nresults: bench/results/scaleout.json")


if __name__ == "__main__":
    main()
