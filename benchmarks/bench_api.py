"""The JSON API under load on loopback: ``/v1/lookup`` at 16 and 64 connections, ``/v1/allocate`` of 10,000.

Starts ``python -m heart_geo api`` (the README's command) for each worker count, waits for
``/v1/health``, then drives it with a bounded asyncio client: C keep-alive HTTP/1.1 connections, each
sending one request after another for a fixed time (closed loop: at most C requests in flight). The
client is a few dozen lines of asyncio streams rather than httpx so that it costs the shared two
cores as little as possible; every answer's status is checked and a sample of bodies is compared
with the library's. Prints requests/s, p50/p99 latency, the resident and proportional memory of the
server processes, and the load average.

    python benchmarks/bench_api.py --data-dir ../shared/data                  # workers 1 and 2, 8 s each
    python benchmarks/bench_api.py --data-dir ../shared/data --workers 1 2 4 --seconds 15
    python benchmarks/bench_api.py --data-dir ../shared/data --keys           # with an API key (auth cost)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, workers: int, keys: Path | None) -> tuple[subprocess.Popen, int, float]:
    port = free_port()
    cmd = [sys.executable, "-m", "heart_geo", "api", "--profile", args.profile, "--port", str(port),
           "--workers", str(workers), "--rate-limit", "0", "-q"]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if keys is not None:
        cmd += ["--api-keys", str(keys)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=2) as r:
                r.read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() - t0 > 300:
                raise SystemExit(f"the server did not start (exit {proc.poll()})") from None
            time.sleep(0.2)
    return proc, port, time.monotonic() - t0


def server_cpu(proc: subprocess.Popen) -> float:
    """CPU seconds (user + system) used so far by the server's processes."""
    main = psutil.Process(proc.pid)
    total = 0.0
    for p in [main, *main.children(recursive=True)]:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def memory(proc: subprocess.Popen) -> list[tuple[str, float, float]]:
    """(role, RSS MB, PSS MB) of the server's processes: the main one and each worker."""
    out = []
    main = psutil.Process(proc.pid)
    kids = [k for k in main.children(recursive=True) if "resource_tracker" not in " ".join(k.cmdline())]
    for role, p in [("main", main)] + [(f"worker {i + 1}", k) for i, k in enumerate(kids)]:
        m = p.memory_full_info()
        out.append((role, m.rss / 2**20, getattr(m, "pss", m.rss) / 2**20))
    return out


class Conn:
    """One keep-alive HTTP/1.1 connection: send a request, read the status and the whole body."""

    def __init__(self, port: int, headers: bytes):
        self.port, self.headers = port, headers

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n").encode() + self.headers + b"\r\n"
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        data = await self.reader.readexactly(length)
        return int(status_line.split()[1]), data

    def close(self):
        self.writer.close()


async def load(port: int, headers: bytes, path: str, bodies: list[bytes], conns: int, seconds: float,
               warmup: float = 1.0) -> dict:
    """Closed-loop load: ``conns`` connections for ``seconds`` (after ``warmup``); latencies in ms."""
    lat: list[float] = []
    bad = 0
    stop_at = time.perf_counter() + warmup + seconds
    measure_from = time.perf_counter() + warmup
    done = 0

    async def one(k: int):
        nonlocal bad, done
        c = Conn(port, headers)
        await c.open()
        i = k
        try:
            while True:
                t = time.perf_counter()
                if t >= stop_at:
                    return
                status, _ = await c.post(path, bodies[i % len(bodies)])
                i += conns
                end = time.perf_counter()
                if t >= measure_from:
                    lat.append(1000 * (end - t))
                    done += 1
                    bad += status != 200
        finally:
            c.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(conns)))
    wall = time.perf_counter() - max(t0, measure_from)
    lat.sort()
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [float("nan")] * 99
    return {"requests": done, "rps": done / wall, "p50": q[49], "p99": q[98], "non_200": bad}


async def allocate_runs(port: int, headers: bytes, body: bytes, runs: int) -> dict:
    c = Conn(port, headers)
    await c.open()
    times, size = [], 0
    for _ in range(runs + 1):
        t = time.perf_counter()
        status, data = await c.post("/v1/allocate", body)
        times.append(time.perf_counter() - t)
        assert status == 200, status
        size = len(data)
    c.close()
    times = times[1:]  # the first warms the path
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "mb": size / 2**20}


def check_answers(port: int, headers: bytes, profile, queries: list[str]) -> None:
    """A sample of the answers under test must equal the library's (the benchmark measures right answers)."""
    from heart_geo.answers import lookup_json

    async def run():
        c = Conn(port, headers)
        await c.open()
        for q in queries:
            status, data = await c.post("/v1/lookup", json.dumps({"query": q}).encode())
            assert status == 200 and json.loads(data) == lookup_json(profile, q), q
        c.close()

    asyncio.run(run())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("HEART_GEO_DATA"))
    ap.add_argument("--profile", default="east_ayrshire")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--allocate-runs", type=int, default=5)
    ap.add_argument("--keys", action="store_true", help="serve with an API key and send it")
    args = ap.parse_args()

    from heart_geo import load_profile

    profile = load_profile(args.profile, data_dir=args.data_dir)
    pcs = profile.postcodes["postcode"].tolist()  # the council's and those within 10 km
    mine = profile.postcodes.loc[profile.postcodes["council_code"] == profile.code, "postcode"].tolist()
    rng = random.Random(21)
    queries = rng.sample(mine, min(2000, len(mine)))
    bodies = [json.dumps({"query": q}).encode() for q in queries]
    batch = json.dumps({"postcodes": rng.sample(pcs, min(10_000, len(pcs)))}).encode()
    headers, keys = b"", None
    tmp = tempfile.TemporaryDirectory()
    if args.keys:
        keys = Path(tmp.name) / "keys.txt"
        keys.write_text(hashlib.sha256(KEY.encode()).hexdigest() + "\n")
        headers = f"Authorization: Bearer {KEY}\r\n".encode()
    print(f"# bench_api: {args.profile}, {len(queries)} distinct postcode queries, allocate batch of "
          f"{len(json.loads(batch)['postcodes']):,} ({len(batch) / 2**20:.2f} MB); keys: {'yes' if keys else 'no'}; "
          f"nproc {os.cpu_count()}; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for w in args.workers:
        proc, port, started = start(args, w, keys)
        try:
            check_answers(port, headers, profile, queries[:50])
            print(f"\n## workers {w}: ready in {started:.1f} s")
            for role, rss, pss in memory(proc):
                print(f"  memory {role:<9} RSS {rss:7.1f} MB  PSS {pss:7.1f} MB")
            for c in args.connections:
                cpu0, own0 = server_cpu(proc), time.process_time()
                r = asyncio.run(load(port, headers, "/v1/lookup", bodies, c, args.seconds))
                n = r["requests"] or 1  # CPU per request, warm-up included in both: an upper bound
                srv, own = (server_cpu(proc) - cpu0) / n * 1e6, (time.process_time() - own0) / n * 1e6
                print(f"  /v1/lookup  {c:>3} connections: {r['rps']:8.0f} req/s  p50 {r['p50']:6.1f} ms  "
                      f"p99 {r['p99']:6.1f} ms  ({r['requests']:,} requests, {r['non_200']} not 200; CPU a request: "
                      f"server {srv:.0f} us, client {own:.0f} us; load {os.getloadavg()[0]:.2f})")
            a = asyncio.run(allocate_runs(port, headers, batch, args.allocate_runs))
            print(f"  /v1/allocate 10,000 postcodes: median {a['median_s'] * 1000:.0f} ms "
                  f"(min {a['min_s'] * 1000:.0f}, max {a['max_s'] * 1000:.0f}; answer {a['mb']:.1f} MB)")
            for role, rss, pss in memory(proc):
                print(f"  memory after {role:<9} RSS {rss:7.1f} MB  PSS {pss:7.1f} MB")
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
