"""What the population build adds to a cold build: data zones, population and SIMD joined to the teams.

Runs the whole cold build (``heart_geo.build.build``, no cache) of a profile with its small-area
sources and with them taken out of the profile, alternated, each in the same process after a warm-up
(imports and GDAL loaded once), and times :func:`heart_geo.population.build_small_areas` on its own.
Prints medians and the load average (the machine is shared: compare figures from one run only).

    python benchmarks/bench_population.py --data-dir ../shared/data --repeats 5
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from pathlib import Path

from heart_geo import build, population
from heart_geo.config import read_config

SMALL_AREA_SOURCES = ("data_zones", "population", "simd")


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _cpu(fn) -> float:
    """CPU seconds of this process (less sensitive than wall time to other work on a shared machine)."""
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> None:
    """Print the cold build with and without the small-area sources, and the small-area step alone."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("HEART_GEO_DATA", "../shared/data"))
    ap.add_argument("--profile", default="east_ayrshire")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    root = Path(args.data_dir)
    cfg = read_config(args.profile)
    without = dataclasses.replace(cfg, sources={k: v for k, v in cfg.sources.items() if k not in SMALL_AREA_SOURCES})
    rel_with = build.locate_releases(cfg.sources, root)
    rel_without = build.locate_releases(without.sources, root)
    built = build.build(cfg, rel_with)  # warm-up: imports, GDAL, PROJ
    assert built["small_areas"] is not None, "no data-zone file found: nothing to measure"
    files = {k: list(v[-1].files) if v else [] for k, v in rel_with.items()}
    t_with, t_without, t_step = [], [], []
    for _ in range(args.repeats):
        t_without.append(_timed(lambda: build.build(without, rel_without)))
        t_with.append(_timed(lambda: build.build(cfg, rel_with)))
    from heart_geo.profiles import Profile

    p = Profile(cfg, root, built, files, rel_with)
    def step():
        population.build_small_areas(cfg, files, pcs=p.postcodes, result=p._pc_result,
                                     council_area=built["council_area"], alloc=p.allocator, addresses=p.addresses)

    t_cpu = []
    for _ in range(args.repeats):
        t_step.append(_timed(step))
        t_cpu.append(_cpu(step))
    t_team = statistics.median(_timed(lambda: population.team_population(p)) for _ in range(20))
    load = os.getloadavg()
    print(f"{args.profile}: cold build (no cache), median of {args.repeats}, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"  without small-area sources  {statistics.median(t_without):6.2f} s")
    print(f"  with data zones, population, SIMD  {statistics.median(t_with):6.2f} s "
          f"(+{statistics.median(t_with) - statistics.median(t_without):.2f} s)")
    print(f"  build_small_areas alone     {statistics.median(t_step):6.3f} s wall, "
          f"{statistics.median(t_cpu):.3f} s CPU")
    print(f"  team_population (from the built data)  {t_team * 1e3:6.2f} ms")


if __name__ == "__main__":
    main()
