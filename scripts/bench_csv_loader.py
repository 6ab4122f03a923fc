"""Benchmark: hepsweep's chunked HEPMASS CSV reader against a whole-file pandas read.

Both read the same generated file in the real HEPMASS format. The baseline loads it through one
DataFrame (what the article does); hepsweep streams chunks straight into its binary cache.
Each runs in a fresh process so that peak memory (ru_maxrss) is its own. Prints the ratios.

    python scripts/bench_csv_loader.py            # 400k rows (~90 MB of CSV)
    python scripts/bench_csv_loader.py --quick    # 60k rows
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
mode, path, cache = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.perf_counter()
if mode == "pandas":
    import pandas as pd
    frame = pd.read_csv(path)
    x = frame.drop(columns=["# label"]).to_numpy("float32"); y = frame["# label"].to_numpy()
    rows = len(y)
else:
    import os
    os.environ["HEPSWEEP_CACHE"] = cache
    from omegaconf import OmegaConf
    from hepsweep.config import HepmassConfig
    from hepsweep.data import raw_arrays
    cfg = OmegaConf.structured(HepmassConfig(path=path))
    rows = len(raw_arrays(cfg, path))
seconds = time.perf_counter() - start
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_csv(path: Path, rows: int) -> None:
    import numpy as np

    from hepsweep.data.hepmass import N_FEATURES, generate_hepmass

    header = "# label," + ",".join(f"f{i}" for i in range(N_FEATURES)) + ",mass\n"
    with open(path, "w") as handle:
        handle.write(header)
        for start in range(0, rows, 50_000):
            events = generate_hepmass(min(50_000, rows - start), [500.0, 750.0, 1000.0, 1250.0, 1500.0], np.random.default_rng(start))
            np.savetxt(handle, np.column_stack([events.y, events.x]), delimiter=",", fmt="%.6g")


def measure(mode: str, path: Path, cache: Path) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(cache)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int)
    options = parser.parse_args()
    rows = options.rows or (60_000 if options.quick else 400_000)
    with tempfile.TemporaryDirectory() as tmp:
        path, cache = Path(tmp) / "all_train.csv", Path(tmp) / "cache"
        write_csv(path, rows)
        size_mb = path.stat().st_size / 2**20
        baseline = measure("pandas", path, cache)
        ours = measure("hepsweep", path, cache)
        cached = measure("hepsweep", path, cache)  # the second read hits the binary cache
    print(f"file: {rows} rows, {size_mb:.0f} MB")
    print(f"pandas whole file : {baseline['seconds']:.2f} s, peak {baseline['peak_mb']:.0f} MB")
    print(f"hepsweep streamed : {ours['seconds']:.2f} s, peak {ours['peak_mb']:.0f} MB")
    print(f"hepsweep cached   : {cached['seconds']:.2f} s, peak {cached['peak_mb']:.0f} MB")
    print(f"ratio peak memory (hepsweep / pandas): {ours['peak_mb'] / baseline['peak_mb']:.2f}")
    print(f"ratio time (hepsweep first read / pandas): {ours['seconds'] / baseline['seconds']:.2f}")
    print(f"ratio time (cached read / pandas): {cached['seconds'] / baseline['seconds']:.3f}")


if __name__ == "__main__":
    main()
