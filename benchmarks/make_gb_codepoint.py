"""Write a GB-size Code-Point Open in the published layout, for national-scale benchmarks.

``codepo_gb.zip`` with ``Doc/metadata.txt`` and ``Data/CSV/<area>.csv`` for 120 postcode areas, about
1.68 million rows (no header, text quoted, as OS publishes it). Every postcode outside the councils is
made up, deterministically (same seed, same file), at points spread over Great Britain away from
Ayrshire; the real rows of the data folder's newest Code-Point Open release (East and North Ayrshire
and the box around them) are copied in unchanged, so every real answer can be compared. Nothing
generated here is committed: it is written to the folder given.

    python benchmarks/make_gb_codepoint.py /tmp/gb --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import io
import string
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

AREAS = 120
ROWS = 1_680_000


def _area_codes(n: int) -> list[str]:
    """n two-letter postcode areas, none of them the real areas copied in (KA, G, PA, ML, DG)."""
    real = {"KA", "G", "PA", "ML", "DG"}
    letters = string.ascii_uppercase
    return [a + b for a in letters for b in letters if a + b not in real][:n]


def made_up_rows(area: str, n: int, rng: np.random.Generator) -> list[bytes]:
    """n made-up Code-Point rows for a made-up area, points in GB but south of Ayrshire."""
    e = rng.integers(150_000, 650_000, n)
    no = rng.integers(10_000, 560_000, n)  # south of 560 km N: never in or near Ayrshire
    district = rng.integers(1, 99, n)
    sector = rng.integers(0, 9, n)
    unit = rng.integers(0, 26 * 26, n)
    lad = rng.integers(0, 300, n)
    rows = []
    letters = string.ascii_uppercase
    for i in range(n):
        out = f"{area}{district[i]}"
        pc = f"{out} {sector[i]}{letters[unit[i] // 26]}{letters[unit[i] % 26]}"
        rows.append(f'"{pc}",10,{e[i]},{no[i]},"E92000001","","E18000099","","E0{6000000 + lad[i]}",""\n'
                    .encode())
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dest", help="folder to write codepo_gb.zip (and Doc/) into")
    ap.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data"),
                    help="data folder whose newest Code-Point Open rows are copied in")
    ap.add_argument("--rows", type=int, default=ROWS)
    ap.add_argument("--seed", type=int, default=20251020)
    args = ap.parse_args()

    from heart_geo.sources import find_releases

    rel = find_releases(Path(args.data_dir), ["**/codepoint*.csv"], what="postcodes")[-1]
    real = b"".join(f.read_bytes() for f in rel.files)
    real_lines = [ln + b"\n" for ln in real.splitlines() if ln.strip() and not ln.startswith(b"Postcode")]
    meta = (rel.root / "Doc" / "metadata.txt").read_bytes() if (rel.root / "Doc" / "metadata.txt").exists() else (
        b"DATASET VERSION NUMBER: 2025.4.0\nCOPYRIGHT DATE: 20251020\n")
    rng = np.random.default_rng(args.seed)
    areas = _area_codes(AREAS - 1)
    per = (args.rows - len(real_lines)) // len(areas)
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    total = len(real_lines)
    with zipfile.ZipFile(dest / "codepo_gb.zip", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("Doc/metadata.txt", meta)
        zf.writestr("Data/CSV/ka.csv", b"".join(real_lines))
        for a in areas:
            rows = made_up_rows(a, per, rng)
            total += len(rows)
            buf = io.BytesIO()
            buf.writelines(rows)
            zf.writestr(f"Data/CSV/{a.lower()}.csv", buf.getvalue())
    size = (dest / "codepo_gb.zip").stat().st_size / 2**20
    print(f"wrote {dest / 'codepo_gb.zip'}: {total:,} rows in {len(areas) + 1} area files, {size:,.0f} MB "
          f"({len(real_lines):,} real rows from release {rel.label}) in {time.perf_counter() - t:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
