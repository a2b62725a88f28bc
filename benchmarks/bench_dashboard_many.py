"""Ten people opening the dashboard at once, each looking up a postcode (issue 20: many at once).

Starts ``python -m heart_geo dashboard`` (the README's command; the browser test's own server), warms
it with one visit (the profile loaded once, as on a server that has been up a while), then opens ten
sessions at the same moment: ten isolated contexts of one headless Chromium with no network beyond
loopback. Each waits for its first view (the map's key and the team polygons drawn), then all look up
a postcode at once. Prints each session's first-view and lookup times, their medians, and the
server's CPU time (the dashboard process and its Streamlit child, from ``/proc`` via psutil) per new
session for the first views and per lookup, with the load average.

    python benchmarks/bench_dashboard_many.py --data-dir ../shared/data
    python benchmarks/bench_dashboard_many.py --data-dir ../shared/data --sessions 10 --rounds 2
    python benchmarks/bench_dashboard_many.py --data-dir ../shared/data --floor   # and Streamlit's own floor

Targets (issue 20): first view median at most 5 s, server CPU at most 0.15 s per new session.
Needs Debian's chromium, playwright and psutil (``pip install -e ".[dev]"``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from browser_harness import CHROMIUM, CHROMIUM_ARGS, is_local_url, running_streamlit  # noqa: E402

IFRAME = "iframe[title='streamlit_folium.st_folium']"
BOX = "Postcode or address"


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the server process and every process under it."""
    total = 0.0
    root = psutil.Process(pid)
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def browser_cpu(server_pid: int) -> float:
    """CPU seconds of this benchmark's own children except the server: the headless Chromium."""
    skip = {server_pid, *(c.pid for c in psutil.Process(server_pid).children(recursive=True))}
    total = 0.0
    for p in psutil.Process().children(recursive=True):
        if p.pid in skip:
            continue
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


async def _route(route, request) -> None:
    if is_local_url(request.url):
        await route.continue_()
    else:
        await route.abort("internetdisconnected")


async def first_view(context, url: str, with_map: bool = True) -> tuple[object, float]:
    page = await context.new_page()
    t0 = time.monotonic()
    await page.goto(url, wait_until="domcontentloaded")
    await page.get_by_role("textbox", name=BOX).wait_for(timeout=180_000)
    if with_map:
        frame = page.frame_locator(IFRAME)
        await frame.locator(".hg-legend").wait_for(timeout=180_000)
        await frame.locator("path.leaflet-interactive").nth(5).wait_for(timeout=180_000)
    return page, time.monotonic() - t0


async def look_up(page, query: str) -> float:
    t0 = time.monotonic()
    box = page.get_by_role("textbox", name=BOX)
    await box.fill(query)
    await box.press("Enter")
    await page.locator(".st-key-lookup_answer").get_by_text(f"{query} — ").wait_for(timeout=180_000)
    return time.monotonic() - t0


async def burst(url: str, pid: int, n: int, queries: list[str], with_map: bool = True) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        contexts = [await browser.new_context(viewport={"width": 1400, "height": 950}, service_workers="block")
                    for _ in range(n)]
        for c in contexts:
            await c.route("**/*", _route)
        cpu0, bcpu0 = server_cpu(pid), browser_cpu(pid)
        views = await asyncio.gather(*(first_view(c, url, with_map) for c in contexts))
        cpu1, bcpu1 = server_cpu(pid), browser_cpu(pid)
        lookups = await asyncio.gather(*(look_up(page, queries[i % len(queries)])
                                         for i, (page, _t) in enumerate(views))) if with_map else [0.0]
        cpu2 = server_cpu(pid)
        await browser.close()
    return {"first_view": [t for _p, t in views], "lookup": list(lookups),
            "cpu_view": (cpu1 - cpu0) / n, "cpu_lookup": (cpu2 - cpu1) / n, "browser_cpu_view": (bcpu1 - bcpu0) / n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data"))
    ap.add_argument("--profile", default="east_ayrshire")
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1, help="bursts of --sessions, one after another")
    ap.add_argument("--floor", action="store_true",
                    help="also measure Streamlit's own floor: a one-text-box app, first views only")
    ap.add_argument("--queries", default="KA18 1FQ,KA3 5QF,KA6 7SJ,KA1 1AD,KA17 0AA",
                    help="postcodes the sessions look up, in turn (comma separated)")
    args = ap.parse_args()
    os.environ["HEART_GEO_DATA"] = str(Path(args.data_dir).resolve())  # read by the dashboard harness
    from test_dashboard_browser import heart_geo_dashboard  # the browser test's own server: the README's command

    queries = [q.strip() for q in args.queries.split(",") if q.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-many-") as tmp, heart_geo_dashboard(Path(tmp), args.profile) as s:
        warm = asyncio.run(burst(s.url, s.process.pid, 1, queries[:1]))  # the server loads the profile once
        print(f"warm-up visit: first view {warm['first_view'][0]:.2f} s (cold server), "
              f"server CPU {warm['cpu_view']:.2f} s")
        rounds = []
        for r in range(args.rounds):
            load = os.getloadavg()[0]
            res = asyncio.run(burst(s.url, s.process.pid, args.sessions, queries))
            rounds.append(res)
            print(f"\nround {r + 1}: {args.sessions} sessions at once (load average before {load:.1f} on "
                  f"{os.cpu_count()} cores)")
            print("  first view  " + " ".join(f"{t:.2f}" for t in sorted(res["first_view"])) + " s")
            print("  lookup      " + " ".join(f"{t:.2f}" for t in sorted(res["lookup"])) + " s")
            print(f"  median first view {statistics.median(res['first_view']):.2f} s, "
                  f"median lookup {statistics.median(res['lookup']):.2f} s")
            print(f"  server CPU per new session (first view) {res['cpu_view']:.3f} s, "
                  f"per lookup {res['cpu_lookup']:.3f} s; browser CPU per first view "
                  f"{res['browser_cpu_view']:.2f} s")
    if args.floor:
        with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
            app = Path(tmp) / "floor.py"
            app.write_text(f"import streamlit as st\nst.title('Floor')\nst.text_input({BOX!r})\n", encoding="utf-8")
            with running_streamlit(app, Path(tmp)) as s:
                asyncio.run(burst(s.url, s.process.pid, 1, queries, with_map=False))
                load = os.getloadavg()[0]
                res = asyncio.run(burst(s.url, s.process.pid, args.sessions, queries, with_map=False))
            print(f"\nStreamlit's floor (one text box), {args.sessions} sessions at once (load average {load:.1f}): "
                  f"median first view {statistics.median(res['first_view']):.2f} s, server CPU per new session "
                  f"{res['cpu_view']:.3f} s, browser CPU per first view {res['browser_cpu_view']:.2f} s")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}; targets: first view median <= 5 s, "
          "server CPU per new session <= 0.15 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
