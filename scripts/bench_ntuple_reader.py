"""Benchmark: hepsweep's ntuple reader against plain ``uproot.concatenate`` + awkward + NumPy.

Both read the same ROOT file (TTree ``Events``, NanoAOD layout: flat ``MET_pt`` and ``weight``,
a jagged jet collection ``nJet``/``Jet_pt``/``Jet_eta``/``Jet_btag``) into the same float32 matrix:
MET, nJet and the leading 4 jets' pt, eta and b-tag, padded with 0. The baseline reads the whole
file at once, as a notebook would; hepsweep streams it in chunks (``dataset.step_size``) into its
binary cache, then memory-maps the cache on every later read. Each arm runs in a fresh process
so that its peak memory (ru_maxrss, less what its imports took) is its own; two file sizes show how memory grows with the file.

    python scripts/bench_ntuple_reader.py            # 250k and 1M events
    python scripts/bench_ntuple_reader.py --quick    # 20k and 80k events
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

FEATURES = ["MET_pt", "nJet", "Jet_pt", "Jet_eta", "Jet_btag"]

CHILD = r"""
import json, resource, sys, time
mode, path, cache = sys.argv[1], sys.argv[2], sys.argv[3]
features = ["MET_pt", "nJet", "Jet_pt", "Jet_eta", "Jet_btag"]
import numpy as np
if mode == "uproot":
    import awkward as ak, uproot
    imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    arrays = uproot.concatenate(f"{path}:Events", features + ["weight"], library="ak")
    blocks = [ak.to_numpy(arrays["MET_pt"])[:, None], ak.to_numpy(arrays["nJet"])[:, None].astype(np.float64)]
    for name in ("Jet_pt", "Jet_eta", "Jet_btag"):
        blocks.append(ak.to_numpy(ak.fill_none(ak.pad_none(arrays[name], 4, axis=1, clip=True), 0.0)))
    x = np.concatenate(blocks, axis=1).astype(np.float32)
    w = ak.to_numpy(arrays["weight"])
    checksum = float(x.sum())
else:
    import os
    os.environ["HEPSWEEP_CACHE"] = cache
    from omegaconf import OmegaConf
    from hepsweep.config import NtupleConfig
    from hepsweep.data import raw_arrays
    imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cfg = OmegaConf.structured(NtupleConfig(path=path, label="nJet >= 5", tree="Events", weight="weight"))
    cfg.features = features
    cfg.objects = {"Jet": 4}
    start = time.perf_counter()
    events = raw_arrays(cfg, path)
    checksum = float(np.asarray(events.x).sum())  # every value touched, as the baseline's
    x = events.x
seconds = time.perf_counter() - start
print(json.dumps({"rows": int(len(x)), "columns": int(x.shape[1]), "seconds": seconds, "checksum": checksum,
                  "read_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - imported}))
"""


WRITER = r"""
import sys
import awkward as ak, numpy as np, uproot
from hepsweep.data.ntuple_example import PROCESSES, draw
path, n_events = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(1)
block = 100_000
with uproot.recreate(path, compression=uproot.ZSTD(3)) as file:
    for start in range(0, n_events, block):
        columns = draw(PROCESSES[1], min(block, n_events - start), rng)
        if start == 0:
            file.mktree("Events", {k: ak.type(v) if isinstance(v, ak.Array) else v.dtype for k, v in columns.items()})
        file["Events"].extend(columns)
"""


def write_file(path: Path, n_events: int) -> None:
    """A NanoAOD-like file of ``n_events`` (ZSTD), written in blocks, in a process of its own: this
    one stays small, so that its children's peak memory (which starts from their parent's) is theirs."""
    subprocess.run([sys.executable, "-c", WRITER, str(path), str(n_events)], check=True)


def run_arm(mode: str, path: Path, cache: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(cache)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the {mode} arm failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small files (CI)")
    options = parser.parse_args()
    sizes = (20_000, 80_000) if options.quick else (250_000, 1_000_000)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for n in sizes:
            path = Path(scratch) / f"events_{n}.root"
            write_file(path, n)
            cache = Path(scratch) / f"cache_{n}"
            baseline = run_arm("uproot", path, cache)
            first = run_arm("hepsweep", path, cache)
            cached = run_arm("hepsweep", path, cache)
            assert abs(first["checksum"] - baseline["checksum"]) <= 1e-4 * abs(baseline["checksum"]), (first, baseline)
            mb = path.stat().st_size / 2**20
            for name, arm in (("uproot.concatenate + NumPy", baseline), ("hepsweep, first read", first),
                              ("hepsweep, cached read", cached)):
                rows.append((n, mb, name, arm["seconds"], arm["read_mb"], arm["seconds"] / baseline["seconds"],
                             arm["read_mb"] / max(baseline["read_mb"], 1e-9)))
    print(f"{'events':>9} {'file MB':>8}  {'arm':<28} {'seconds':>8} {'read MB':>8} {'time x':>7} {'memory x':>9}")
    for n, mb, name, seconds, peak, time_ratio, mem_ratio in rows:
        print(f"{n:>9} {mb:>8.1f}  {name:<28} {seconds:>8.2f} {peak:>8.0f} {time_ratio:>7.2f} {mem_ratio:>9.2f}")
    print("(read MB: the process's peak memory above what it held after its imports; time x, memory x: against "
          "uproot.concatenate + NumPy on the same file)")


if __name__ == "__main__":
    main()
