"""Loading a profile: cold build, warm load, peak and resident memory; national file against subset.

Each figure comes from a fresh child process (so imports and caches are what a new CLI call or
dashboard worker pays). The national data folder is made by ``make_gb_codepoint.py`` (1.68 million
postcodes in the published ``codepo_gb.zip`` layout, the real rows copied in) beside links to the
other real datasets; the subset folder is the real data folder itself.

    python benchmarks/bench_load.py --data-dir ../shared/data            # makes /tmp/heart-geo-gb once
    python benchmarks/bench_load.py --data-dir ../shared/data --repeats 5
    python benchmarks/bench_load.py --data-dir ../shared/data --only national --cold-only   # the cold build
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import heart_geo
from heart_geo import load_profile  # names load on first use: import the loader before timing it
t1 = time.perf_counter()
p = load_profile({profile!r}, data_dir={data!r})
t2 = time.perf_counter()
rss = int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
grid = None
if {grid!r}:  # the grid alone, built once more: what part of a cold build it is
    t = time.perf_counter()
    p.allocator._build_grid()
    grid = time.perf_counter() - t
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "grid_s": grid, "peak_mb": peak, "resident_mb": rss,
                  "postcodes_in_table": len(p.postcodes),
                  "postcodes_compact": int(len(p._elsewhere["keys"]))}}))
"""


def child(profile: str, data: Path, cache: Path, grid: bool = False) -> dict:
    env = dict(os.environ, HEART_GEO_CACHE=str(cache), PYTHONPATH=str(HERE.parent))
    out = subprocess.run([sys.executable, "-c", CHILD.format(profile=profile, data=str(data), grid=grid)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def lookup_wall(profile: str, data: Path, cache: Path, query: str) -> float:
    env = dict(os.environ, HEART_GEO_CACHE=str(cache), PYTHONPATH=str(HERE.parent))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "heart_geo", "lookup", query, "--profile", profile, "--data-dir", str(data)],
                   env=env, capture_output=True, check=True)
    return time.perf_counter() - t


def national_folder(data_dir: Path, dest: Path) -> Path:
    if (dest / "os_codepoint_gb" / "codepo_gb.zip").exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for d in data_dir.iterdir():
        if d.is_dir() and "codepoint" not in d.name:
            link = dest / d.name
            if not link.exists():
                link.symlink_to(d.resolve())
    subprocess.run([sys.executable, str(HERE / "make_gb_codepoint.py"), str(dest / "os_codepoint_gb"),
                    "--data-dir", str(data_dir)], check=True)
    return dest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data"))
    ap.add_argument("--national", default=str(Path(tempfile.gettempdir()) / "heart-geo-gb"))
    ap.add_argument("--profile", default="east_ayrshire")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--postcode", default="KA18 1FQ", help="a postcode the profile holds")
    ap.add_argument("--unknown", default="KA3 3ZZ", help="a postcode in no release (answered by the full path)")
    ap.add_argument("--only", choices=["subset", "national"], help="one data folder only")
    ap.add_argument("--cold-only", action="store_true", help="cold builds (and the grid alone) only: no warm "
                    "loads, no lookups")
    args = ap.parse_args()
    data = Path(args.data_dir).resolve()
    folders = {}
    if args.only != "national":
        folders["subset (real data folder)"] = data
    if args.only != "subset":
        folders["national (GB-size Code-Point)"] = national_folder(data, Path(args.national))
    print(f"profile {args.profile}; medians of {args.repeats} fresh processes; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for label, folder in folders.items():
        cold, warm, first, ready, other = [], [], [], [], []
        for _ in range(args.repeats):
            cache = Path(tempfile.mkdtemp(prefix="bench-cache-"))
            cold.append(child(args.profile, folder, cache, grid=True))
            if not args.cold_only:
                warm.append(child(args.profile, folder, cache))
                first.append(lookup_wall(args.profile, folder, cache, args.postcode))  # full path; writes answers
                ready.extend(lookup_wall(args.profile, folder, cache, args.postcode) for _ in range(3))
                other.append(lookup_wall(args.profile, folder, cache, args.unknown))  # not held: full path
            shutil.rmtree(cache, ignore_errors=True)

        def med(rows, key):
            return statistics.median(r[key] for r in rows)

        print(f"\n{label}: {cold[0]['postcodes_in_table']:,} postcodes in the table, "
              f"{cold[0]['postcodes_compact']:,} compact")
        print(f"  cold build  load_profile {med(cold, 'load_s'):6.2f} s   peak {med(cold, 'peak_mb'):6.0f} MB   "
              f"(runs {', '.join(format(r['load_s'], '.2f') for r in cold)} s; the grid alone "
              f"{med(cold, 'grid_s'):.2f} s)")
        if args.cold_only:
            continue
        print(f"  warm        load_profile {med(warm, 'load_s'):6.2f} s   peak {med(warm, 'peak_mb'):6.0f} MB   "
              f"resident {med(warm, 'resident_mb'):6.0f} MB   (import heart_geo {med(warm, 'import_s'):.2f} s)")
        print(f"  heart-geo lookup, warm cache, whole process (wall): first call {statistics.median(first):.2f} s "
              f"(full path, writes the ready answers); then {statistics.median(ready):.2f} s for a postcode the "
              f"profile holds; {statistics.median(other):.2f} s for one it does not ({args.unknown}: full path)")
    print(f"load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
