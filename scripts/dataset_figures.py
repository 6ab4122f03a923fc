"""Train each built-in dataset with its natural model and print accuracy, AUC and seconds per
epoch: the figures the README and the closing notes quote.

    python scripts/dataset_figures.py            # default sizes (a few minutes on 2 cores)
    python scripts/dataset_figures.py --quick    # 1,000 events, 2 epochs
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CASES = [
    ("hepmass", ["dataset=hepmass", "model=mlp"], 5),
    ("ntd_pits", ["dataset=ntd_pits", "model=cnn", "train.batch_size=32"], 20),
    ("belle2_pixels", ["dataset=belle2_pixels", "model=cnn"], 5),
    ("belle2_features (deuteron vs background)", ["dataset=belle2_features", "model=mlp"], 5),
    ("cms_events", ["dataset=cms_events", "model=ffn"], 10),
    ("cms_images (64 px)", ["dataset=cms_images", "dataset.image_size=64", "dataset.n_events=3000", "model=resnet"], 5),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    import hepsweep

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, overrides, epochs in CASES:
            extra = ["dataset.n_events=1000", "train.epochs=2"] if options.quick else [f"train.epochs={epochs}"]
            cfg = hepsweep.compose([*overrides, *extra, "tracking=off", "train.tensorboard=false", f"output_root={tmp}"])
            result = hepsweep.run(cfg, output_dir=f"{tmp}/{len(rows)}", emit=lambda _: None)
            m = result.metrics
            rows.append((label, cfg.model.name, int(m["epochs_run"]), m["test_accuracy"], m["test_auc"], m["time_per_epoch_s"]))
            print(f"{label:42s} {cfg.model.name:7s} epochs {int(m['epochs_run']):2d}  accuracy {m['test_accuracy']:.3f}  "
                  f"AUC {m['test_auc']:.3f}  {m['time_per_epoch_s']:.2f} s/epoch", flush=True)


if __name__ == "__main__":
    main()
