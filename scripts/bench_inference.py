"""Benchmark: per-event inference time of an exported model where it runs: Keras, ONNX Runtime
and the drone JSON's NumPy reader, one event at a time (a trigger) and in batches of 1024.

Trains the HEPMASS MLP (3 x 112, the article's largest) and the HIPSTER CNN briefly, exports each
with its preprocessing through ``hepsweep.export`` (checked against Keras), times every runtime
in one process, and prints the table with the ratios to Keras; also what logging the model as an
MLflow model costs (the figure behind ``tracking.log_models: best``).

    python scripts/bench_inference.py            # 6,000 events, 3 epochs
    python scripts/bench_inference.py --quick    # 1,200 events, 1 epoch
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

MODELS = {
    "HEPMASS MLP 3x112": ["dataset=hepmass", "model=mlp", "model.n_layers=3", "model.units=112"],
    "HIPSTER CNN": ["dataset=ntd_pits", "model=cnn"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from omegaconf import open_dict

    from hepsweep.app import compose_config
    from hepsweep.export.exporter import export_run, stored_test_events
    from hepsweep.export.latency import BATCHES
    from hepsweep.export.mlflow_model import log_model
    from hepsweep.export.origin import Origin
    from hepsweep.export.serving import load_run
    from hepsweep.tracking import store
    from hepsweep.train import run

    events, epochs = (1200, 1) if options.quick else (6000, 3)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        uri = f"sqlite:///{root / 'mlflow.db'}"
        for label, overrides in MODELS.items():
            cfg = compose_config(["tracking=off", f"train.epochs={epochs}", "train.tensorboard=false", "train.progress=false",
                                  "train.plots=false", "device=cpu", *overrides])
            with open_dict(cfg):
                cfg.output_root = str(root / "outputs")
                cfg.dataset.n_events = events
            folder = run(cfg, output_dir=root / label.replace(" ", "_"), emit=lambda _: None).output_dir
            trained = load_run(folder)
            result = export_run(trained, "onnx", root / "export" / folder.name, Origin(label), emit=lambda _: None)
            raw = trained.preprocessing.unscale(stored_test_events(trained, 10))
            logged = log_model(trained, raw, uri, store.create_run(uri, "bench", label))
            rows.append((label, int(trained.network.count_params()), result, logged.seconds))

    print(f"per-event inference time, microseconds (CPU, {os.cpu_count()} cores); ratio = Keras' time / this runtime's")
    print("| model | params | runtime | " + " | ".join(f"batch {b}" for b in BATCHES) + " | "
          + " | ".join(f"ratio b{b}" for b in BATCHES) + " |")
    print("|---|---:|---|" + "---:|" * (2 * len(BATCHES)))
    for label, params, result, _ in rows:
        keras_row = result.latency["keras"]
        for runtime, row in result.latency.items():
            times = " | ".join(f"{row[b] * 1e6:.2f}" for b in BATCHES)
            ratios = " | ".join(f"{keras_row[b] / row[b]:.1f}x" for b in BATCHES)
            print(f"| {label} | {params:,} | {runtime} | {times} | {ratios} |")
    for label, _, result, seconds in rows:
        print(f"{label}: ONNX vs Keras max abs difference {result.max_abs_diff:.1e}; logging the MLflow model took {seconds:.2f} s")


if __name__ == "__main__":
    main()
