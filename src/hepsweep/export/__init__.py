"""The winner, ready for production: a trained run with its preprocessing in one model, written
as ONNX, Keras or drone JSON and checked against Keras (``hepsweep export``), logged as an
MLflow model and registered (``hepsweep register``).

Modules: ``serving`` (raw events -> probabilities), ``exporter`` (formats and the check),
``onnx_format``, ``dense_json``, ``latency``, ``mlflow_model``; ``command`` is the verbs' face.
Nothing heavy is imported here.
"""

from hepsweep.export.origin import Origin

__all__ = ["Origin"]
