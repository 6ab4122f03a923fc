"""Export a trained run as ONNX, Keras or drone JSON, checked against Keras before it is written.

The check: the run's own network on the study's test events, scaled as training scaled them,
against the exported model on the same events in raw units. The largest absolute difference
of any class probability is printed; above :data:`TOLERANCE` nothing is written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from hepsweep.data import load_dataset
from hepsweep.drone.reader import drone_outputs, with_arrays
from hepsweep.export.dense_json import drone_json
from hepsweep.export.latency import latency_table
from hepsweep.export.onnx_format import onnx_predictor, write_onnx
from hepsweep.export.origin import Origin
from hepsweep.errors import ExportError
from hepsweep.export.serving import TrainedRun, serving_model
from hepsweep.train.evaluate import class_probabilities
from hepsweep.train.training import as_model_input, model_outputs

FILES = {"onnx": "model.onnx", "keras": "model.keras", "drone": "drone.json"}
FORMATS = tuple(FILES)
TOLERANCE = 1e-5
SUMMARY = "export.json"


def hepsweep_version() -> str:
    try:
        return package_metadata.version("hepsweep")
    except package_metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class Export:
    """A written export and what it was checked and timed against."""

    path: Path
    format: str
    max_abs_diff: float
    n_events: int
    latency: dict[str, dict[int, float]] = field(default_factory=dict)


def model_metadata(run: TrainedRun, origin: Origin) -> dict[str, str]:
    """String key/values for the ONNX metadata and the export summary."""
    pre = run.preprocessing
    values: dict[str, Any] = {
        "features": pre.features,
        "class_names": run.class_names,
        "signal_class": pre.signal_class,
        "input_shape": list(run.input_shape),
        "scaling": pre.kind,
        "output": "one probability per class, in the order of class_names",
        "hepsweep_version": hepsweep_version(),
        **origin.describe(),
    }
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


CHUNK_BYTES = 64 * 2**20  # raw events compared at a time: images stay within memory


def stored_test_events(run: TrainedRun, limit: int | None) -> np.ndarray:
    """The study's test events as stored (scaled), the first ``limit`` of them."""
    data = load_dataset(run.config.dataset)
    return np.asarray(data.test.x[:limit] if limit else data.test.x)


def check_events(run: TrainedRun, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The study's test events in raw units and the run's Keras probabilities for them."""
    scaled = stored_test_events(run, limit)
    return run.preprocessing.unscale(scaled), class_probabilities(model_outputs(run.network, as_model_input(scaled)))


def max_difference(run: TrainedRun, scaled: np.ndarray, predict: Callable[[np.ndarray], np.ndarray]) -> float:
    """The largest absolute difference between ``predict`` on the raw events and the run's
    network on the stored ones, over every class probability, compared chunk by chunk."""
    rows = max(1, CHUNK_BYTES // max(1, int(np.prod(scaled.shape[1:])) * 4))
    worst = 0.0
    for start in range(0, len(scaled), rows):
        chunk = scaled[start : start + rows]
        reference = class_probabilities(model_outputs(run.network, as_model_input(chunk)))
        got = np.asarray(predict(run.preprocessing.unscale(chunk)), np.float64)
        if got.shape != reference.shape:
            raise ExportError(f"the exported model answers shape {got.shape[1:]} per event where Keras answers {reference.shape[1:]}")
        worst = max(worst, float(np.max(np.abs(got - reference))))
    return worst


def _predictor(fmt: str, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Read the written file back the way its users will."""
    if fmt == "onnx":
        return onnx_predictor(path)[0]
    if fmt == "keras":
        reloaded = keras.models.load_model(path, compile=False)  # safe mode, as a user loads it
        return lambda x: np.asarray(model_outputs(reloaded, x))
    document = with_arrays(json.loads(path.read_text()))
    return lambda x: class_probabilities(drone_outputs(document, x, raw_inputs=True))


def _write(fmt: str, run: TrainedRun, serving: Any, path: Path, meta: dict[str, str]) -> None:
    if fmt == "onnx":
        write_onnx(serving, path, meta)
    elif fmt == "keras":
        serving.save(path)
        path.with_name("metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    else:
        path.write_text(json.dumps(drone_json(run.network, run.preprocessing, meta)))


def check_format(fmt: str) -> str:
    if fmt not in FILES:
        raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def writable_folder(folder: Path) -> Path:
    """``folder``, created; refused in one line when it cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ExportError(f"cannot write the export folder {folder} ({exc.strerror or exc}); pass -o with a folder you can write") from None
    return folder


def export_run(
    run: TrainedRun,
    fmt: str,
    folder: Path,
    origin: Origin,
    events: int | None = 10_000,
    timing: bool = True,
    emit: Callable[[str], None] = print,
) -> Export:
    """Write ``run`` as ``fmt`` into ``folder`` (with ``export.json``) once it agrees with Keras."""
    check_format(fmt)
    writable_folder(folder)
    serving = serving_model(run.network, run.preprocessing)
    meta = model_metadata(run, origin)
    scaled = stored_test_events(run, events)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".export-") as scratch:
        staged = Path(scratch) / FILES[fmt]
        _write(fmt, run, serving, staged, meta)
        predict = _predictor(fmt, staged)
        diff = max_difference(run, scaled, predict)
        emit(f"export: {fmt} vs Keras on {len(scaled)} test events: max abs difference {diff:.2e}")
        if not diff <= TOLERANCE:
            raise ExportError(
                f"the {fmt} model disagrees with Keras by up to {diff:.2e} on the test events (limit {TOLERANCE:g}); "
                "nothing was written"
            )
        sample = run.preprocessing.unscale(scaled[:1024])
        latency = latency_table(_runtimes(fmt, run, serving, predict), sample) if timing else {}
        for item in Path(scratch).iterdir():
            _move(item, folder / item.name)
    result = Export(folder / FILES[fmt], fmt, diff, len(scaled), latency)
    summary = {
        "format": fmt,
        "file": FILES[fmt],
        "metadata": meta,
        "max_abs_diff_vs_keras": diff,
        "checked_events": len(scaled),
        "latency_s_per_event": {name: {str(b): s for b, s in row.items()} for name, row in latency.items()},
    }
    (folder / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return result


def _move(source: Path, target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    os.replace(source, target)


def _runtimes(fmt: str, run: TrainedRun, serving: Any, predict: Callable[[np.ndarray], Any]) -> dict[str, Callable[[np.ndarray], Any]]:
    """Keras, ONNX Runtime for an ONNX export and, for a dense network, the drone's NumPy reader."""
    # Keras as it serves fastest: one traced call per batch (predict_on_batch, as fast as a
    # tf.function of the model); its eager call, ``model(x)``, pays Python dispatch per layer:
    # 3.2 ms an event at batch 1 on the quickstart's MLP, 0.4 ms traced
    runtimes: dict[str, Callable[[np.ndarray], Any]] = {"keras": serving.predict_on_batch}
    if fmt == "onnx":
        runtimes["onnxruntime"] = predict
    if fmt == "drone":
        runtimes["drone"] = predict
    else:
        try:
            document = with_arrays(drone_json(run.network, run.preprocessing, {}))
        except ExportError:
            return runtimes
        runtimes["drone"] = lambda x: drone_outputs(document, x, raw_inputs=True)
    return runtimes
