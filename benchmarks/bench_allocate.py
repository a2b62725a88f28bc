"""Benchmark point allocation on the real data (East Ayrshire).

    HEART_GEO_DATA=/path/to/data python benchmarks/bench_allocate.py [--quick]

Prints, for random points uniform in the bounding box of East Ayrshire's teams:

* points/s of ``Profile.allocate_points`` (DataFrame path), raw ``Allocator.locate``, prepared
  ``shapely.contains_xy`` over the team polygons and geopandas ``sjoin`` (default predicate and
  ``predicate="within"``), with ratios, at 10k, 100k, 1M and 10M points (sjoin to 1M only);
* that the grid answers equal the exact answers for the benchmark points;
* all postcodes of the Code-Point file through ``Profile.allocate``;
* single-lookup latency (median, p99) of ``lookup`` and ``allocate([...])``;
* warm and cold start in fresh subprocesses, peak memory (maxrss) in a subprocess, grid size;
* the dashboard map payload if ``heart_geo.explore`` has a map builder.

Figures are medians of several repeats. ``--quick`` stops at 1M points with fewer repeats.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402

import heart_geo  # noqa: E402
from heart_geo.settings import CRS  # noqa: E402

PROFILE = "east_ayrshire"
# peak resident set of this process (VmHWM, kB): unlike ru_maxrss it does not inherit the
# high-water mark of the parent that forked it
HWM = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
FIELDS = ("catchment", "team", "status", "method", "near")


def timeit(fn, repeats: int, warm: bool = True) -> float:
    """Median wall time of fn() over repeats (one untimed warm-up call first if warm)."""
    if warm:
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f"{kb / 1024**2:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    import pyproj

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "shapely": shapely.__version__,
        "geos": shapely.geos_version_string,
        "geopandas": gpd.__version__,
        "pandas": pd.__version__,
        "pyproj": pyproj.__version__,
    }


def same(fast, exact) -> tuple[bool, float]:
    ok = all(np.array_equal(getattr(fast, f), getattr(exact, f)) for f in FIELDS)
    ok &= np.array_equal(np.isnan(fast.distance), np.isnan(exact.distance))
    d = exact.distance[~np.isnan(exact.distance)]
    worst = float(np.max(np.abs(fast.distance[~np.isnan(exact.distance)] - d))) if d.size else 0.0
    return ok and worst <= 1e-6, worst


def contains_xy_teams(polys, x, y) -> np.ndarray:
    out = np.full(len(x), -1, np.int32)
    for i, poly in enumerate(polys):
        out[shapely.contains_xy(poly, x, y)] = i
    return out


def run_sub(code: str, env: dict) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - t, r.stdout.strip()


def main() -> None:  # noqa: C901 - a benchmark script, one section after another
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="up to 1M points, fewer repeats")
    args = ap.parse_args()
    if not os.environ.get("HEART_GEO_DATA"):
        sys.exit("set HEART_GEO_DATA to the data folder")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    print("## Machine")
    for k, v in machine().items():
        print(f"- {k}: {v}")

    p = heart_geo.load_profile(PROFILE)
    a = p.allocator
    polys = list(a.team_polygons)
    for g in polys:
        shapely.prepare(g)
    teams = p.team_areas[["team", "geometry"]]
    xmin, ymin, xmax, ymax = p.team_areas.total_bounds
    g = a.grid
    arrays = [*vars(g).values(), *vars(g.leaves).values()]
    grid_bytes = sum(v.nbytes for v in arrays if isinstance(v, np.ndarray))
    print(f"\nprofile {PROFILE}: {len(a.catchments)} catchments, {a.n_teams} teams, "
          f"team bbox {xmax - xmin:.0f} x {ymax - ymin:.0f} m")
    print(f"grid: coarse {g.shape[1]}x{g.shape[0]} cells of {g.cell:g} m, "
          f"{g.block_sub.size} blocks, {g.fine.size} fine cells, "
          f"{g.gap_ptr.size - 1} gap/exact cells with {g.gap_seg.size} candidate segments; "
          f"{grid_bytes / 1e6:.1f} MB of arrays")
    t = time.perf_counter()
    type(a)(catchments=a.catchments, catchment_team=a.catchment_team, n_teams=a.n_teams,
            council_area=a.council_area, overrides=a.overrides, near_m=a.near_m)
    print(f"grid build (uncached): {time.perf_counter() - t:.2f} s")

    sizes = [10_000, 100_000, 1_000_000] + ([] if args.quick else [10_000_000])
    reps = {10_000: 30, 100_000: 15, 1_000_000: 7, 10_000_000: 3}
    if args.quick:
        reps = {k: max(3, v // 3) for k, v in reps.items()}
    rng = np.random.default_rng(20240501)
    print("\n## Bulk points (uniform in the teams' bounding box); points/s, median of repeats")
    hdr = (f"{'n':>10} | {'allocate_points':>15} | {'locate':>12} | {'contains_xy':>12} | "
           f"{'sjoin':>10} | {'sjoin within':>12} | {'locate/cxy':>10} | {'alloc_pts/cxy':>13} | "
           f"{'locate/sjoin':>12} | exact check")
    print(hdr)
    print("-" * len(hdr))
    for n in sizes:
        x = rng.uniform(xmin, xmax, n)
        y = rng.uniform(ymin, ymax, n)
        r = reps[n]
        t_loc = timeit(lambda x=x, y=y: a.locate(x, y), r)
        t_cxy = timeit(lambda x=x, y=y: contains_xy_teams(polys, x, y), r)
        t_ap = timeit(lambda x=x, y=y: p.allocate_points(x, y), r)
        if n <= 1_000_000:
            def sj(pred, x=x, y=y):
                pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=CRS)
                return gpd.sjoin(pts, teams, how="left", predicate=pred)

            rs = max(3, r // 3)
            t_sj = timeit(lambda: sj("intersects"), rs, warm=n < 1_000_000)
            t_sjw = timeit(lambda: sj("within"), rs, warm=n < 1_000_000)
            sj_s, sjw_s, ratio_sj = f"{n / t_sj:10.3g}", f"{n / t_sjw:12.3g}", f"{t_sj / t_loc:12.1f}"
            sj_t, sjw_t = t_sj, t_sjw  # at the largest size run
        else:
            sj_s, sjw_s, ratio_sj = f"{'skipped':>10}", f"{'skipped':>12}", f"{'-':>12}"
        ok, worst = same(a.locate(x, y), a.exact(x, y))
        # the teams from contains_xy agree with the grid's where a point is inside a team
        print(f"{n:>10,} | {n / t_ap:15.3g} | {n / t_loc:12.3g} | {n / t_cxy:12.3g} | {sj_s} | {sjw_s} | "
              f"{t_cxy / t_loc:10.1f} | {t_cxy / t_ap:13.2f} | {ratio_sj} | "
              f"{'identical' if ok else 'DIFFERENT'} (max |dd| {worst:.1e} m)", flush=True)
    print("(sjoin times include building the GeoDataFrame of points)")
    if not args.quick:
        print(f"(sjoin not run at 10M: at the 1M rates one run would take about {1e7 * sj_t / 1e6:.0f} s "
              f"(default predicate) and {1e7 * sjw_t / 1e6:.0f} s (within))")

    x = rng.uniform(xmin, xmax, 1_000_000)
    y = rng.uniform(ymin, ymax, 1_000_000)
    ex = a.exact(x, y)
    print(f"\n1M points: {np.mean(ex.status == 0):.1%} allocated, {np.mean(ex.status == 1):.1%} "
          f"nearest_team, {np.mean(ex.status == 2):.1%} outside; {np.mean(ex.near):.1%} near_boundary")
    t_ex = timeit(lambda: a.exact(x, y), 3)
    print(f"exact path: {1e6 / t_ex:.3g} points/s")

    print("\n## Postcodes")
    pcs = p.postcodes["postcode"].astype(str).tolist()
    t_pc = timeit(lambda: p.allocate(pcs), 3 if args.quick else 5)
    print(f"all {len(pcs):,} postcodes in the Code-Point file via allocate(): {t_pc:.3f} s "
          f"({len(pcs) / t_pc:.3g} postcodes/s)")

    print("\n## Single lookup latency (KA18 1FQ)")
    for name, fn in (("lookup", lambda: p.lookup("KA18 1FQ")), ("allocate([..])", lambda: p.allocate(["KA18 1FQ"]))):
        fn()
        ts = []
        for _ in range(300 if args.quick else 2000):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        ts = np.array(ts) * 1e6
        print(f"{name:>15}: median {np.median(ts):8.1f} us, p99 {np.percentile(ts, 99):8.1f} us")

    print("\n## Start-up (fresh subprocess)")
    code = f"import heart_geo; heart_geo.load_profile({PROFILE!r})"
    warm = [run_sub(code, env)[0] for _ in range(3 if args.quick else 5)]
    print(f"warm (cache populated): median {statistics.median(warm):.2f} s of {len(warm)}")
    colds = []
    for _ in range(1 if args.quick else 3):
        with tempfile.TemporaryDirectory() as tmp:
            colds.append(run_sub(code, dict(env, HEART_GEO_CACHE=tmp))[0])
    print(f"cold (empty cache dir): median {statistics.median(colds):.2f} s of {len(colds)}")
    imp = [run_sub("import heart_geo", env)[0] for _ in range(3)]
    print(f"(python + import heart_geo alone: median {statistics.median(imp):.2f} s)")

    print("\n## Peak memory (VmHWM, peak resident set, of a fresh subprocess)")
    run_sub(f"import heart_geo; heart_geo.load_profile({PROFILE!r})", env)  # cache populated
    for n in [0, 1_000_000] + ([] if args.quick else [10_000_000]):
        code = (
            "import numpy as np, heart_geo\n"
            f"p = heart_geo.load_profile({PROFILE!r})\n"
            "b = p.team_areas.total_bounds\n"
            "r = np.random.default_rng(0)\n"
            f"n = {n}\n"
            "if n:\n"
            "    x = r.uniform(b[0], b[2], n); y = r.uniform(b[1], b[3], n)\n"
            "    res = p.allocator.locate(x, y)\n"
            + HWM
        )
        _, out = run_sub(code, env)
        what = "load profile (warm)" if n == 0 else f"load (warm) + locate {n:,} points"
        print(f"{what:>40}: {int(out) / 1024:.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        _, out = run_sub(
            "import heart_geo\n"
            f"heart_geo.load_profile({PROFILE!r})\n" + HWM,
            dict(env, HEART_GEO_CACHE=tmp),
        )
    print(f"{'load profile (cold, builds cache)':>40}: {int(out) / 1024:.0f} MB")
    _, out = run_sub("import heart_geo\n" + HWM, env)
    print(f"{'python + import heart_geo':>40}: {int(out) / 1024:.0f} MB")

    print("\n## Dashboard map payload")
    try:
        import heart_geo.explore as explore
    except ImportError:
        print("skipped: heart_geo.explore does not exist")
    else:
        builders = [n for n in dir(explore) if "map" in n.lower() and callable(getattr(explore, n))
                    and not n.startswith("_")]
        if not builders:
            print("skipped: heart_geo.explore has no map builder")
        else:
            fn = getattr(explore, builders[0])
            try:
                m = fn(p)
                html = m.get_root().render() if hasattr(m, "get_root") else str(m)
                print(f"{builders[0]}(profile): {len(html.encode()) / 1e6:.2f} MB")
            except Exception as exc:  # an unknown signature: report, do not guess
                print(f"skipped: {builders[0]}(profile) raised {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
