"""Address points at national size: read a Scotland-size ONSUD file keeping one council, streaming.

Generates (once, in a temporary folder unless --keep DIR) a made-up ONSUD region file in the
published layout with N rows (default 3,000,000, about Scotland's), of which ~60,000 are one made-up
council's, then reads it with ``heart_geo.uprn.read_onsud`` in a child process and reports the time,
the rows kept and the child's peak resident memory, against the file size and the peak of reading
the whole file with plain ``pandas.read_csv`` (the naive way).

    python benchmarks/bench_uprn.py            # 3M rows
    python benchmarks/bench_uprn.py --rows 300000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from heart_geo.testing import ONSUD_HEADER  # noqa: E402

COUNCIL = "S99000001"


def generate(path: Path, rows: int, seed: int = 1) -> None:
    """A made-up ONSUD region CSV: header as published, codes in every column."""
    rng = np.random.default_rng(seed)
    block = 250_000
    lad_at = ONSUD_HEADER.index("LAD25CD")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(ONSUD_HEADER) + "\n")
        for start in range(0, rows, block):
            n = min(block, rows - start)
            uprn = np.arange(start, start + n, dtype=np.int64) + 100_000_000_000
            e = rng.integers(100_000, 470_000, n)
            nn = rng.integers(530_000, 1_220_000, n)
            mine = rng.random(n) < 0.02
            lad = np.where(mine, COUNCIL, "S12000099")
            pc = np.char.add(np.char.add("ZZ", (rng.integers(1, 99, n)).astype(str)), " 1AA")
            cols = [uprn.astype(str), e.astype(str), nn.astype(str), pc]
            filler = np.full(n, "S99999999")
            for i in range(4, len(ONSUD_HEADER)):
                cols.append(lad if i == lad_at else filler)
            lines = cols[0]
            for c in cols[1:]:
                lines = np.char.add(np.char.add(lines, ","), c)
            fh.write("\n".join(lines.tolist()) + "\n")


CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
t = time.perf_counter()
if {naive!r}:
    import pandas as pd
    df = pd.read_csv({path!r}, dtype=str)
    kept = int((df["LAD25CD"] == {council!r}).sum())
else:
    from heart_geo.uprn import read_onsud
    kept = len(read_onsud({path!r}, council_codes=[{council!r}]))
print(json.dumps({{"seconds": time.perf_counter() - t, "kept": kept,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run(path: Path, naive: bool) -> dict:
    code = CHILD.format(root=str(HERE.parent), path=str(path), council=COUNCIL, naive=naive)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--keep", help="folder to write (and keep) the generated file in")
    ap.add_argument("--no-naive", action="store_true", help="skip the whole-file pandas comparison")
    args = ap.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-onsud-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ONSUD_NOV_2025_SC.csv"
    if not path.exists():
        t = time.perf_counter()
        generate(path, args.rows)
        print(f"generated {args.rows:,} rows in {time.perf_counter() - t:.1f} s")
    size = path.stat().st_size / 2**20
    print(f"file: {path.name}, {size:,.0f} MB")
    base = run(path, naive=False)
    print(f"read_onsud (streaming, one council): {base['seconds']:.1f} s, kept {base['kept']:,} rows, "
          f"peak RSS {base['peak_mb']:,.0f} MB ({base['peak_mb'] / size:.2f}x the file)")
    if not args.no_naive:
        naive = run(path, naive=True)
        print(f"pandas.read_csv (whole file):        {naive['seconds']:.1f} s, peak RSS {naive['peak_mb']:,.0f} MB "
              f"({naive['peak_mb'] / size:.2f}x the file)")
        print(f"ratio: streaming peak is {naive['peak_mb'] / base['peak_mb']:.1f}x smaller")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
