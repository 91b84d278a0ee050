"""``make bench``: Inkwell against the floor, in one run (about two minutes on 2 cores).

Starts, on free loopback ports:

* a fast fake OpenAI-compatible upstream (``bench/upstream.py``: 64 one-token chunks, no delay);
* the floor, a bare Starlette pass-through (``bench/passthrough.py``: same HTTP client stack as
  Inkwell, same framing, no DB, no auth);
* Inkwell itself (``inkwell serve``, one worker, a fresh SQLite database in a temp directory, the
  built-in model without delays, ``INKWELL_OPENAI_BASE_URL`` pointing at the fake upstream);

then, for each target and 1, 16 and 64 concurrent streams, runs the load generator
(``bench/loadgen.py``, its own process) and reads the target's CPU time from ``/proc``:

    (a) upstream   the fake upstream called directly (OpenAI stream)
    (b) floor      the bare pass-through in front of the upstream
    (c) inkwell    Inkwell, ``openai_compatible`` provider in front of the upstream
    (d) builtin    Inkwell, built-in echo model
    (e) builtin+rag  (d) with a 10,000-segment dataset attached (retrieval before every generation)

Every (b)/(c)/(d) stream must hold exactly 64 ``message`` frames and one ``message_end`` (anything else
is an error). By default the process under test is pinned to CPU 1 and everything else (load
generator, and the upstream when it is not the target) to CPU 0, so "one worker" means one core;
``--no-pin`` lets the kernel place them.

Prints the table and the c/b and c/a ratios, the cost of retrieval (TTFT of (e) against (d)), and
writes ``bench/results/latest.json``.

    .venv/bin/python bench/run.py [--duration 5] [--warmup 1] [--concurrency 1,16,64] [--targets abcde]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import http.client
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadgen import check_stream

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
INKWELL = str(Path(PYTHON).parent / "inkwell")
RESULTS = BENCH / "results" / "latest.json"
TOKENS = 64
TARGET_RATIO = 0.60
MODEL = "gpt-4o-mini"
API_KEY = "sk-bench"
DIFY_BODY = {"inputs": {"query": "otters"}, "response_mode": "streaming", "user": "bench-user"}
OPENAI_BODY = {
    "model": MODEL,
    "stream": True,
    "stream_options": {"include_usage": True},
    "max_tokens": TOKENS,
    "messages": [{"role": "user", "content": "Write about otters."}],
}
FORM = [{"paragraph": {"variable": "query", "label": "Query", "required": True}}]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1
try:
    LIBC: ctypes.CDLL | None = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
except OSError:
    LIBC = None


def app_dsl(name: str, model: dict[str, Any], pre_prompt: str) -> str:
    """A Dify DSL completion app (JSON is YAML)."""
    return json.dumps(
        {
            "version": "0.6.0",
            "kind": "app",
            "app": {"name": name, "mode": "completion"},
            "model_config": {
                "model": model,
                "pre_prompt": pre_prompt,
                "prompt_type": "simple",
                "user_input_form": FORM,
            },
        }
    )


OPENAI_APP = app_dsl(
    "bench-openai",
    {"provider": "langgenius/openai/openai", "name": MODEL, "mode": "chat", "completion_params": {"max_tokens": 64}},
    "Write about {{query}}.",
)
# the echo model answers with the rendered prompt: 1 + 99 tokens, cut to 64 by max_tokens
BUILTIN_APP = app_dsl(
    "bench-builtin",
    {"provider": "builtin", "name": "echo", "mode": "chat", "completion_params": {"max_tokens": TOKENS}},
    "{{query}} " + " ".join(f"word{i}" for i in range(99)),
)


# (e): the builtin app with a dataset of RAG_FILES x RAG_PARAGRAPHS segments (one ~300-character
# paragraph each), made of pseudo-words drawn with Zipf frequencies, so a query word matches from a few
# to a few thousand segments, as real text does
RAG_DATASET_ID = "00000000-0000-4000-8000-00000000be0c"
RAG_FILES = 20
RAG_PARAGRAPHS = 500
RAG_APP = json.dumps(
    {
        **json.loads(BUILTIN_APP),
        "app": {"name": "bench-builtin-rag", "mode": "completion"},
        "model_config": {
            **json.loads(BUILTIN_APP)["model_config"],
            "dataset_query_variable": "query",
            "dataset_configs": {
                "retrieval_model": "multiple",
                "top_k": 4,
                "datasets": {"datasets": [{"dataset": {"enabled": True, "id": RAG_DATASET_ID}}]},
            },
        },
    }
)


def rag_vocabulary(size: int = 3000) -> list[str]:
    rng = random.Random(7)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def write_rag_corpus(directory: Path) -> tuple[list[Path], str]:
    """The dataset's files, and a query of four words: common, frequent, rare and very rare."""
    words = rag_vocabulary()
    weights = [1.0 / rank for rank in range(1, len(words) + 1)]
    rng = random.Random(11)
    paths: list[Path] = []
    for index in range(RAG_FILES):
        paragraphs = []
        for _ in range(RAG_PARAGRAPHS):
            text = ""
            while len(text) < 290:
                text += " ".join(rng.choices(words, weights, k=8)) + ". "
            paragraphs.append(text.strip()[:300])
        path = directory / f"doc{index:02d}.txt"
        path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
        paths.append(path)
    return paths, " ".join(words[rank] for rank in (20, 200, 1000, 2500))


# --------------------------------------------------------------------------------------------------
# processes


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def child_setup(cpus: set[int] | None) -> Callable[[], None]:
    """What a child runs before exec: die with us (even on kill -9), and stay on its CPUs."""

    def setup() -> None:
        if LIBC is not None:
            LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if cpus:
            os.sched_setaffinity(0, cpus)

    return setup


@dataclass
class Bench:
    tmp: Path
    pin: bool
    children: list[Child] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INKWELL_")}
        env.update(
            INKWELL_DATABASE_URL=f"sqlite+aiosqlite:///{self.tmp / 'inkwell.db'}",
            INKWELL_SECRET_KEY="bench-secret-key-0123456789-0123456789-abcdef",
            INKWELL_LOG_LEVEL="warning",
            INKWELL_BUILTIN_TTFT_MS="0",
            INKWELL_BUILTIN_TOKEN_DELAY_MS="0",
        )
        env.update(extra)
        return env

    def run(self, *argv: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(argv, cwd=self.tmp, env=env or self.env(), capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result.stdout

    def start(self, name: str, argv: list[str], *, env: dict[str, str] | None = None, cpu: int | None = None) -> Child:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                cwd=self.tmp,
                env=env or self.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=child_setup({cpu} if cpu is not None and self.pin else None),
            )
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGTERM)  # its own session: the child and what it started
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for child in self.children:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                child.proc.wait(timeout=5)
        self.children.clear()

    def repin(self, child: Child, cpu: int) -> None:
        """Move every thread of a running process to one CPU."""
        if not self.pin:
            return
        for tid in os.listdir(f"/proc/{child.pid}/task"):
            try:
                os.sched_setaffinity(int(tid), {cpu})
            except ProcessLookupError:
                pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(child: Child, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode}:\n{child.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{child.name} did not listen on {port} within {timeout}s:\n{child.tail()}"
                ) from None
            time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy() -> float:
    """user + nice + system seconds of the whole machine, from /proc/stat (comparable to process time)."""
    with open("/proc/stat", "rb") as f:
        fields = f.readline().split()
    return (int(fields[1]) + int(fields[2]) + int(fields[3])) / CLOCK_TICKS


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def idle_check(seconds: float = 1.0) -> float:
    """Share of one core that the machine spends on something else before we start (percent)."""
    busy, mine, wall = machine_busy(), self_cpu(), time.monotonic()
    time.sleep(seconds)
    return 100.0 * ((machine_busy() - busy) - (self_cpu() - mine)) / (time.monotonic() - wall)


# --------------------------------------------------------------------------------------------------
# targets and runs


@dataclass
class Target:
    key: str
    label: str
    url: str
    kind: str
    body: dict[str, Any]
    server: Child
    headers: list[str] = field(default_factory=list)
    upstream: Child | None = None


def smoke(target: Target) -> None:
    """One request through urllib: fail early, with the server's log, when a target is broken."""
    headers = {"Content-Type": "application/json"}
    for header in target.headers:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    request = urllib.request.Request(target.url, data=json.dumps(target.body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (OSError, http.client.HTTPException) as exc:
        message = f"({target.key}) {target.label}: smoke request failed: {exc!r}\n{target.server.tail()}"
        raise RuntimeError(message) from None
    problem = check_stream(target.kind, status, body, TOKENS)
    if problem:
        raise RuntimeError(f"({target.key}) {target.label}: smoke request failed: {problem}\n{target.server.tail()}")


def run_load(bench: Bench, target: Target, concurrency: int, args: argparse.Namespace) -> dict[str, Any]:
    argv = [
        PYTHON,
        str(BENCH / "loadgen.py"),
        "--url",
        target.url,
        "--kind",
        target.kind,
        "--body",
        json.dumps(target.body),
        "--concurrency",
        str(concurrency),
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
        "--tokens",
        str(TOKENS),
    ]
    for header in target.headers:
        argv += ["--header", header]
    if bench.pin:
        argv += ["--cpu", "0"]
    server_cpu = cpu_seconds(target.server.pid)
    upstream_cpu = cpu_seconds(target.upstream.pid) if target.upstream else 0.0
    busy, mine, reaped, wall = machine_busy(), self_cpu(), children_cpu(), time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=child_setup(None),  # this process has no threads
    )
    loadgen = Child(f"loadgen-{target.key}-{concurrency}", proc, bench.tmp / "loadgen.log")
    bench.children.append(loadgen)
    try:
        out, err = proc.communicate(timeout=args.warmup + args.duration + 60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        bench.children.remove(loadgen)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}):\n{err.decode(errors='replace')}")
    wall = time.monotonic() - wall
    report: dict[str, Any] = json.loads(out)
    server_used = cpu_seconds(target.server.pid) - server_cpu
    upstream_used = cpu_seconds(target.upstream.pid) - upstream_cpu if target.upstream else 0.0
    ours = server_used + upstream_used + (children_cpu() - reaped) + (self_cpu() - mine)
    # CPU the rest of the machine used meanwhile (another test suite, a build...): numbers are low when it is high
    report["other_cpu_pct"] = max(0.0, 100.0 * ((machine_busy() - busy) - ours) / wall)
    total = max(1, report["total_completed"])
    report["target"] = target.key
    report["label"] = target.label
    report["server_cpu_ms_per_req"] = 1000.0 * server_used / total
    report["server_cpu_pct"] = report["server_cpu_ms_per_req"] * report["rps"] / 10.0
    if target.upstream:
        report["upstream_cpu_ms_per_req"] = 1000.0 * upstream_used / total
    return report


# --------------------------------------------------------------------------------------------------
# output


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(reports: list[dict[str, Any]]) -> str:
    head = (
        f"{'target':<26} {'conc':>4} {'req/s':>8} {'TTFT p50':>9} {'TTFT p99':>9} "
        f"{'srv CPU':>8} {'srv CPU':>8} {'upstr CPU':>9} {'loadgen':>8} {'chunks':>6} {'other':>6} {'errors':>6}"
    )
    units = (
        f"{'':<26} {'':>4} {'':>8} {'ms':>9} {'ms':>9} {'ms/req':>8} {'% core':>8} {'ms/req':>9} {'% core':>8} "
        f"{'/req':>6} {'% core':>6} {'':>6}"
    )
    lines = [head, units, "-" * len(head)]
    for r in reports:
        lines.append(
            f"{'(' + r['target'] + ') ' + r['label']:<26} {r['concurrency']:>4} {r['rps']:>8.0f} "
            f"{fmt(r['ttft_p50_ms'], 2):>9} {fmt(r['ttft_p99_ms'], 2):>9} "
            f"{r['server_cpu_ms_per_req']:>8.3f} {r['server_cpu_pct']:>8.0f} "
            f"{fmt(r.get('upstream_cpu_ms_per_req'), 3):>9} {r['loadgen_cpu_pct']:>8.0f} "
            f"{fmt(r['http_chunks_per_req']):>6} {r['other_cpu_pct']:>6.0f} {r['total_errors']:>6}"
        )
    return "\n".join(lines)


PAIRS = {"c/b": ("c", "b"), "c/a": ("c", "a"), "d/b": ("d", "b"), "e/d": ("e", "d")}


def ratios(reports: list[dict[str, Any]], concurrencies: list[int], key: str) -> dict[str, dict[str, float | None]]:
    """Ratios of ``key`` per concurrency: req/s, or the capacity of one core (1 / server CPU per request)."""
    if key == "rps":
        value = {(r["target"], r["concurrency"]): r["rps"] for r in reports}
    else:
        value = {(r["target"], r["concurrency"]): 1.0 / r["server_cpu_ms_per_req"] for r in reports}
    out: dict[str, dict[str, float | None]] = {}
    for name, (num, den) in PAIRS.items():
        out[name] = {}
        for n in concurrencies:
            a, b = value.get((num, n)), value.get((den, n))
            out[name][str(n)] = a / b if a is not None and b else None
    return out


def retrieval_cost(reports: list[dict[str, Any]], concurrencies: list[int]) -> dict[str, dict[str, float | None]]:
    """TTFT of (d) and (e) per concurrency, and their ratio: what retrieval adds before the first token."""
    by = {(r["target"], r["concurrency"]): r for r in reports}
    out: dict[str, dict[str, float | None]] = {}
    for n in concurrencies:
        d, e = by.get(("d", n)), by.get(("e", n))
        if d is None or e is None:
            continue
        row: dict[str, float | None] = {}
        for key in ("ttft_p50_ms", "ttft_p99_ms"):
            row[f"without_{key}"], row[f"with_{key}"] = d[key], e[key]
            row[f"ratio_{key[5:8]}"] = e[key] / d[key] if d[key] and e[key] is not None else None
        row["rps_ratio"] = e["rps"] / d["rps"] if d["rps"] else None
        out[str(n)] = row
    return out


# --------------------------------------------------------------------------------------------------
# main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run (default 1)")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated (default 1,16,64)")
    parser.add_argument("--targets", default="abcde", help="which of a, b, c, d, e to run (default abcde)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (database, logs)")
    parser.add_argument("--hold", action="store_true", help="after the runs, keep the servers up until Ctrl-C")
    args = parser.parse_args()
    concurrencies = [int(n) for n in args.concurrency.split(",") if n.strip()]
    pin = not args.no_pin and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
    if pin:
        os.sched_setaffinity(0, {0})  # this orchestrator and its short-lived helpers stay off the measured core

    def on_term(_signum: int, _frame: Any) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    bench = Bench(tmp=Path(tempfile.mkdtemp(prefix="inkwell-bench-")), pin=pin)
    started = time.monotonic()
    try:
        # database, apps, keys
        bench.run(INKWELL, "db", "upgrade")
        keys: dict[str, str] = {}
        for name, text in (("c", OPENAI_APP), ("d", BUILTIN_APP), ("e", RAG_APP)):
            path = bench.tmp / f"app-{name}.yml"
            path.write_text(text)
            app_id = bench.run(INKWELL, "apps", "import", str(path)).strip().splitlines()[-1]
            keys[name] = bench.run(INKWELL, "keys", "create", app_id).strip().splitlines()[-1]
        rag_body = dict(DIFY_BODY)
        if "e" in args.targets:
            corpus = bench.tmp / "corpus"
            corpus.mkdir()
            files, rag_query = write_rag_corpus(corpus)
            rag_body = {**DIFY_BODY, "inputs": {"query": rag_query}}
            bench.run(INKWELL, "datasets", "create", "bench", "--id", RAG_DATASET_ID)
            added = bench.run(INKWELL, "datasets", "add", RAG_DATASET_ID, *map(str, files), "--chunk-size", "400")
            segments = sum(int(line.rsplit("(", 1)[1].split()[0]) for line in added.strip().splitlines())
            if segments != RAG_FILES * RAG_PARAGRAPHS:
                raise RuntimeError(f"the bench dataset has {segments} segments, not {RAG_FILES * RAG_PARAGRAPHS}")

        # servers: the measured one goes to CPU 1, the rest to CPU 0
        up_port, pt_port, ink_port = free_port(), free_port(), free_port()
        upstream = bench.start("upstream", [PYTHON, str(BENCH / "upstream.py"), "--port", str(up_port)], cpu=0)
        base = f"http://127.0.0.1:{up_port}/v1"
        floor = bench.start(
            "passthrough",
            [PYTHON, str(BENCH / "passthrough.py"), "--port", str(pt_port), "--upstream", base, "--api-key", API_KEY],
            cpu=1,
        )
        inkwell = bench.start(
            "inkwell",
            [INKWELL, "serve", "--host", "127.0.0.1", "--port", str(ink_port), "--workers", "1"],
            env=bench.env(INKWELL_OPENAI_BASE_URL=base, INKWELL_OPENAI_API_KEY=API_KEY),
            cpu=1,
        )
        for child, port in ((upstream, up_port), (floor, pt_port), (inkwell, ink_port)):
            wait_ready(child, port)

        completion = f"http://127.0.0.1:{ink_port}/v1/completion-messages"
        targets = {
            "a": Target("a", "upstream direct", f"{base}/chat/completions", "openai", OPENAI_BODY, upstream),
            "b": Target(
                "b",
                "floor pass-through",
                f"http://127.0.0.1:{pt_port}/v1/completion-messages",
                "dify",
                DIFY_BODY,
                floor,
                upstream=upstream,
            ),
            "c": Target(
                "c",
                "inkwell openai_compat",
                completion,
                "dify",
                DIFY_BODY,
                inkwell,
                headers=[f"Authorization: Bearer {keys['c']}"],
                upstream=upstream,
            ),
            "d": Target(
                "d", "inkwell builtin", completion, "dify", DIFY_BODY, inkwell, [f"Authorization: Bearer {keys['d']}"]
            ),
            "e": Target(
                "e",
                "inkwell builtin+10k rag",
                completion,
                "dify",
                rag_body,
                inkwell,
                [f"Authorization: Bearer {keys['e']}"],
            ),
        }
        selected = [targets[k] for k in args.targets if k in targets]
        for target in selected:
            smoke(target)
        foreign = idle_check()
        if foreign > 15:
            print(f"WARNING: before the runs, other processes kept {foreign:.0f}% of a core busy", flush=True)

        print(
            f"inkwell bench: {TOKENS}-token streams, {args.warmup:g}s warm-up + {args.duration:g}s per run, "
            f"{'server pinned to CPU 1, load generator and upstream to CPU 0' if pin else 'no CPU pinning'}",
            flush=True,
        )
        reports: list[dict[str, Any]] = []
        for target in selected:
            bench.repin(upstream, 1 if target.key == "a" else 0)
            for n in concurrencies:
                report = run_load(bench, target, n, args)
                reports.append(report)
                print(
                    f"  ({target.key}) {target.label:<22} c={n:<3} {report['rps']:7.0f} req/s  "
                    f"srv {report['server_cpu_ms_per_req']:.3f} ms/req  errors {report['total_errors']}",
                    flush=True,
                )
                if report["error_reasons"]:
                    print(f"      errors: {report['error_reasons']}", flush=True)
                time.sleep(0.3)
        bench.repin(upstream, 0)

        found = ratios(reports, concurrencies, "rps")
        by_cpu = ratios(reports, concurrencies, "cpu")
        print()
        print(table(reports))
        print()
        for label, which in (("req/s", found), ("CPU/req", by_cpu)):
            for name, values in which.items():
                cells = "  ".join(f"{n:>3} streams: {fmt(v, 2):>5}" for n, v in values.items())
                print(f"{name:<4} {label:<8} {cells}")
        print("(CPU/req: ratio of 1 / server CPU per request, the rate each would reach on one full core)")
        rag = retrieval_cost(reports, concurrencies)
        if rag:
            size = f"{RAG_FILES * RAG_PARAGRAPHS:,}"
            print(f"\nretrieval cost: (d) builtin without / (e) with a {size}-segment dataset (SQLite FTS5)")
            for n, row in rag.items():
                p50 = f"{fmt(row['without_ttft_p50_ms'], 2)} -> {fmt(row['with_ttft_p50_ms'], 2)} ms"
                p99 = f"{fmt(row['without_ttft_p99_ms'], 2)} -> {fmt(row['with_ttft_p99_ms'], 2)} ms"
                print(
                    f"  {n:>3} streams: TTFT p50 {p50} (x{fmt(row['ratio_p50'], 2)}), "
                    f"p99 {p99} (x{fmt(row['ratio_p99'], 2)}); req/s x{fmt(row['rps_ratio'], 2)}"
                )
        top = found["c/b"].get("64")
        verdict: bool | None = None if top is None else top >= TARGET_RATIO
        if verdict is not None:
            state = "MET" if verdict else "NOT MET"
            cpu_ratio = fmt(by_cpu["c/b"].get("64"), 2)
            print(
                f"\ntarget c/b >= {TARGET_RATIO:.2f} at 64 streams (one worker): {state} "
                f"({top:.2f} by req/s; {cpu_ratio} by CPU per request)"
            )
        errors = sum(r["total_errors"] for r in reports)
        if errors:
            print(f"\nWARNING: {errors} request(s) failed or streamed wrong frames; see error_reasons in {RESULTS}")
        saturated = [f"({r['target']}) c={r['concurrency']}" for r in reports if r["loadgen_cpu_pct"] > 80]
        if saturated:
            print("WARNING: the load generator used more than 80% of a core in " + ", ".join(saturated))
        disturbed = [f"({r['target']}) c={r['concurrency']}" for r in reports if r["other_cpu_pct"] > 15]
        if disturbed:
            print(
                "WARNING: other processes used more than 15% of a core during "
                + ", ".join(disturbed)
                + " (column 'other'): those numbers are low; rerun on a quiet machine"
            )

        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {
                    "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "machine": {
                        "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "platform": platform.platform(),
                    },
                    "other_cpu_pct_before": round(foreign, 1),
                    "settings": {
                        "tokens": TOKENS,
                        "duration": args.duration,
                        "warmup": args.warmup,
                        "pinned": pin,
                        "concurrency": concurrencies,
                    },
                    "runs": reports,
                    "ratios": found,
                    "ratios_by_cpu_per_request": by_cpu,
                    "retrieval_cost": rag,
                    "target": {
                        "c/b at 64": top,
                        "c/b at 64 by cpu": by_cpu["c/b"].get("64"),
                        "threshold": TARGET_RATIO,
                        "met": verdict,
                    },
                    "elapsed_seconds": round(time.monotonic() - started, 1),
                },
                indent=2,
            )
            + "\n"
        )
        print(f"\nresults: {RESULTS.relative_to(ROOT)}  ({time.monotonic() - started:.0f}s)")
        if args.hold:
            print("holding the servers up; Ctrl-C to stop")
            for target in selected:
                auth = "".join(f" --header '{h}'" for h in target.headers)
                print(
                    f"  ({target.key}) pid {target.server.pid}: {PYTHON} {BENCH / 'loadgen.py'} --url {target.url} "
                    f"--kind {target.kind} --body '{json.dumps(target.body)}'{auth} --concurrency 64 --duration 10"
                )
            while True:
                time.sleep(3600)
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        bench.stop_all()
        if args.keep:
            print(f"kept {bench.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(bench.tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
