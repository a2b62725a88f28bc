"""Latency of one query: what a person waits for, and the budgets the tests used to time.

Medians (and 99th percentiles) over many calls in one warm process, for one value each:

* ``Profile.allocate(["KA18 1FQ"])`` (budget 1 ms) and ``Profile.allocate_points([x], [y])``;
* ``Profile.lookup`` of a postcode, of "lat, lon" (budget 1 ms: it was a test until issue 23) and of
  "easting, northing".

On the real data (East Ayrshire) when ``HEART_GEO_DATA`` is set or ``--data-dir`` given, else on the
made-up Testshire council. The load average is printed with the figures: the machine may be shared.

    python benchmarks/bench_latency.py --data-dir ../shared/data
    python benchmarks/bench_latency.py --calls 20000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import heart_geo  # noqa: E402
from heart_geo._crs import transformer  # noqa: E402


def latency(fn, calls: int) -> tuple[float, float]:
    """Median and 99th percentile of ``fn()`` in microseconds, after 200 untimed calls."""
    for _ in range(200):
        fn()
    ts = np.empty(calls)
    for i in range(calls):
        t = time.perf_counter()
        fn()
        ts[i] = time.perf_counter() - t
    return float(np.median(ts) * 1e6), float(np.percentile(ts, 99) * 1e6)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("HEART_GEO_DATA"))
    ap.add_argument("--calls", type=int, default=5000, help="timed calls per figure (default 5000)")
    args = ap.parse_args()
    if args.data_dir:
        p = heart_geo.load_profile("east_ayrshire", data_dir=args.data_dir)
        postcode = "KA18 1FQ"
    else:
        from heart_geo.testing import make_profile

        p = make_profile(tempfile.mkdtemp(prefix="heart-geo-bench-"))
        postcode = "TT1 1AA"
    row = p.lookup(postcode)
    east, north = row["easting"], row["northing"]
    lon, lat = (float(v) for v in transformer("EPSG:27700", "EPSG:4326").transform(east, north))
    print(f"profile {p.key}; {args.calls} timed calls per figure; load average before "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    cases = [
        (f'allocate(["{postcode}"])', lambda: p.allocate([postcode])),
        ("allocate_points([x], [y])", lambda: p.allocate_points([east], [north])),
        (f'lookup("{postcode}")', lambda: p.lookup(postcode)),
        ('lookup("lat, lon")', lambda: p.lookup(f"{lat}, {lon}")),
        ('lookup("easting, northing")', lambda: p.lookup(f"{east}, {north}")),
    ]
    for name, fn in cases:
        med, p99 = latency(fn, args.calls)
        print(f"{name:>32}: median {med:8.1f} us, p99 {p99:8.1f} us")
    print(f"load average after {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
