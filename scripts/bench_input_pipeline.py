"""Benchmark: is the tf.data input pipeline ever the bottleneck?

Times one pass over the training batches alone (the pipeline) against one epoch of training on
them (pipeline + model), for a few batch sizes, in the same process. A ratio well below 1 means
the input pipeline costs a small fraction of an epoch.

    python scripts/bench_input_pipeline.py           # HEPMASS-like, 100k events
    python scripts/bench_input_pipeline.py --quick   # 20k events
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    import keras

    import hepsweep
    from hepsweep.data import load_dataset
    from hepsweep.data.pipeline import make_dataset
    from hepsweep.models import build_model

    n_events = 20_000 if options.quick else 100_000
    cfg = hepsweep.compose([f"dataset.n_events={n_events}", "tracking=off"])
    data = load_dataset(cfg.dataset)
    model = build_model(cfg.model, data.input_shape, data.n_classes)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    print(f"{len(data.train)} training events, MLP {cfg.model.n_layers} x {cfg.model.units}")
    for batch in (64, 256, 1024):
        dataset = make_dataset(data.train, data.n_classes, batch, shuffle=True)
        for _ in dataset:  # warm up
            pass
        start = time.perf_counter()
        for _ in dataset:
            pass
        pipeline = time.perf_counter() - start
        model.fit(dataset, epochs=1, verbose=0)  # compile the step
        start = time.perf_counter()
        model.fit(dataset, epochs=1, verbose=0)
        epoch = time.perf_counter() - start
        print(f"batch {batch:5d}: pipeline {pipeline:.3f} s, epoch {epoch:.3f} s, ratio pipeline/epoch {pipeline / epoch:.3f}")
    keras.backend.clear_session()


if __name__ == "__main__":
    main()
