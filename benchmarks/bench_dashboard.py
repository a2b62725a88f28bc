"""The dashboard's first view in a fresh browser on a warm server, against Streamlit's own floor.

Starts ``python -m heart_geo dashboard`` (the README's command) and, for comparison, a one-widget
Streamlit app on the same machine; opens each in a new headless Chromium with an empty profile and no
network beyond loopback, several times, after one cold visit that warms the server. Prints, per visit,
when the page's DOM was ready, when the first widget showed, and (dashboard) when the map's legend and
team polygons were drawn; then medians and the ratio of the dashboard's first view to the floor.

    python benchmarks/bench_dashboard.py --data-dir ../shared/data            # 5 visits each
    python benchmarks/bench_dashboard.py --data-dir ../shared/data --visits 9

Needs Debian's chromium and playwright (``pip install -e ".[dev]"``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from browser_harness import offline_browser, running_streamlit  # noqa: E402

IFRAME = "iframe[title='streamlit_folium.st_folium']"
BOX = "Postcode or address"
FLOOR_APP = f"""import streamlit as st
st.title("Streamlit's floor")
st.text_input({BOX!r})
"""


def visit(url: str, with_map: bool) -> dict:
    with offline_browser((1400, 950)) as (context, _log):
        page = context.pages[0] if context.pages else context.new_page()
        t0 = time.monotonic()
        page.goto(url, wait_until="domcontentloaded")
        out = {"dom": time.monotonic() - t0}
        page.get_by_role("textbox", name=BOX).wait_for(timeout=90_000)
        out["widget"] = time.monotonic() - t0
        if with_map:
            frame = page.frame_locator(IFRAME)
            frame.locator(".hg-legend").wait_for(timeout=90_000)
            frame.locator("path.leaflet-interactive").nth(5).wait_for(timeout=90_000)
            out["map"] = time.monotonic() - t0
        return out


def measure(started, visits: int, with_map: bool) -> list[dict]:
    with started as s:
        visit(s.url, with_map)  # cold: the server loads the profile into its cache
        return [visit(s.url, with_map) for _ in range(visits)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data"))
    ap.add_argument("--profile", default="east_ayrshire")
    ap.add_argument("--visits", type=int, default=5)
    args = ap.parse_args()
    os.environ["HEART_GEO_DATA"] = str(Path(args.data_dir).resolve())  # read by the dashboard harness
    from test_dashboard_browser import heart_geo_dashboard  # the browser test's own server: the README's command

    with tempfile.TemporaryDirectory(prefix="bench-dash-") as tmp:
        floor_app = Path(tmp) / "floor.py"
        floor_app.write_text(FLOOR_APP, encoding="utf-8")
        floor = measure(running_streamlit(floor_app, Path(tmp)), args.visits, with_map=False)
        dash = measure(heart_geo_dashboard(Path(tmp), args.profile), args.visits, with_map=True)
    print(f"first view, fresh headless Chromium, warm server; {args.visits} visits each; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for label, rows in (("Streamlit floor (one text box)", floor), (f"heart-geo dashboard ({args.profile})", dash)):
        print(f"\n{label}")
        for r in rows:
            print("  " + "  ".join(f"{k} {v:.2f} s" for k, v in r.items()))
        print("  median " + "  ".join(f"{k} {statistics.median(r[k] for r in rows):.2f} s" for k in rows[0]))
    first, base = statistics.median(r["map"] for r in dash), statistics.median(r["widget"] for r in floor)
    print(f"\ndashboard first view (map drawn) {first:.2f} s = {first / base:.2f}x Streamlit's floor ({base:.2f} s); "
          f"target 2 s: {'met' if first <= 2.0 else 'not met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
