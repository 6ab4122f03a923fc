"""ONNX through Keras' own export (tf2onnx underneath), with hepsweep's names and metadata.

Keras names the graph's output after TensorFlow's ``Identity`` op; hepsweep renames it
``probabilities`` and writes its metadata (features, classes, where the model came from) as
the model's ``metadata_props``, which ONNX Runtime reads back with
``session.get_modelmeta().custom_metadata_map``. A graph that holds an op ONNX does not define
(tf2onnx leaves such ops in place with a logged error) is refused, naming the Keras layer.

One op is taught to tf2onnx here (:func:`_teach_tf2onnx`, the only place that touches its
handler registry): ``Erfc``, which TensorFlow's exact GELU uses and ONNX lacks, as ``1 - Erf``.
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from hepsweep.errors import ExportError, message_line
from hepsweep.export.serving import OUTPUT_NAME

INSTALL_HINT = "pip install onnx tf2onnx onnxruntime (hepsweep's own dependencies: reinstall hepsweep)"


def _require() -> tuple[Any, Any]:
    try:
        import onnx  # optional: the export extra
        import onnxruntime  # optional: the export extra
        import tf2onnx  # optional: the export extra  # noqa: F401
    except ImportError as exc:
        raise ExportError(f"ONNX export needs {exc.name}; {INSTALL_HINT}") from None
    return onnx, onnxruntime


_TAUGHT: list[str] = []


def _teach_tf2onnx() -> None:
    """Register a tf2onnx converter for TensorFlow's ``Erfc`` (GELU's): ``1 - Erf(x)``."""
    if _TAUGHT:
        return
    from tf2onnx import utils  # optional: the export extra
    from tf2onnx.handler import tf_op  # optional: the export extra

    @tf_op("Erfc")
    class Erfc:  # noqa: F841  (registered by the decorator)
        @classmethod
        def version_9(cls, ctx: Any, node: Any, **kwargs: Any) -> None:
            node.type = "Erf"
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.output[0]))
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype))
            complement = ctx.insert_new_node_on_output(
                "Sub", node.output[0], name=utils.make_name(f"{node.name}_complement"), inputs=[one.output[0], node.output[0]]
            )
            ctx.copy_shape(node.output[0], complement.output[0])

    _TAUGHT.append("Erfc")


def write_onnx(model: Any, path: Path, metadata: Mapping[str, str]) -> None:
    """Convert the Keras ``model`` (called once) to ``path``, output named ``probabilities``."""
    onnx, _ = _require()
    _teach_tf2onnx()
    for name in ("tf2onnx", "keras"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # its per-op chatter; failures are checked below
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "model.onnx"
        try:
            model.export(str(raw), format="onnx", verbose=False)
        except Exception as exc:
            first = message_line(exc)
            raise ExportError(f"the ONNX converter failed on model '{model.name}': {first}") from None
        graph = onnx.load(str(raw))
    _refuse_unknown_ops(onnx, graph, model)
    _rename_output(graph, OUTPUT_NAME)
    del graph.metadata_props[:]
    for key, value in metadata.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    graph.doc_string = "hepsweep classifier: raw events in, one probability per class out"
    onnx.save(graph, str(path))


def _refuse_unknown_ops(onnx: Any, graph: Any, model: Any) -> None:
    for node in graph.graph.node:
        if not onnx.defs.has(node.op_type, node.domain or ""):
            layer = layer_of(node.name, model)
            where = f"layer '{layer[0]}' ({layer[1]})" if layer else f"the graph node '{node.name}'"
            raise ExportError(
                f"the ONNX converter cannot handle {where} of model '{model.name}': it becomes the op "
                f"{node.op_type}, which ONNX does not define; change that layer (e.g. another activation) "
                "or export with --format keras"
            )


def leaf_layers(model: Any) -> list[Any]:
    """Every layer of ``model``, nested models opened, in order."""
    found = []
    for layer in getattr(model, "layers", []):
        found.extend(leaf_layers(layer) if hasattr(layer, "layers") else [layer])
    return found


def layer_of(node_name: str, model: Any) -> tuple[str, str] | None:
    """The Keras layer (name, class) a converted node came from, read from its name scope."""
    layers = {layer.name: type(layer).__name__ for layer in leaf_layers(model)}
    for part in reversed(node_name.split("/")[:-1]):
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in layers:
                return candidate, layers[candidate]
    return None


def _rename_output(graph: Any, name: str) -> None:
    old = graph.graph.output[0].name
    for node in graph.graph.node:
        node.output[:] = [name if o == old else o for o in node.output]
        node.input[:] = [name if i == old else i for i in node.input]
    graph.graph.output[0].name = name


def onnx_predictor(path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, str]]:
    """ONNX Runtime's prediction function for ``path`` (CPU) and the model's metadata."""
    _, onnxruntime = _require()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ExportError(f"ONNX Runtime cannot load the converted model: {message_line(exc)}") from None
    input_name = session.get_inputs()[0].name

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {input_name: np.asarray(x, np.float32)})[0])

    return predict, dict(session.get_modelmeta().custom_metadata_map)
