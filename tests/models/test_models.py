"""Model builders and HIPSTER's options check."""

from __future__ import annotations

import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from hepsweep.errors import ConfigError, InvalidArchitectureError
from hepsweep.models import build_model, validate_model


def model_cfg(compose, *overrides: str):
    return compose(*overrides).model


def test_mlp_layers_and_outputs(compose) -> None:
    cfg = model_cfg(compose, "model.n_layers=3", "model.units=28", "model.dropout=0.2")
    model = build_model(cfg, (28,), 2)
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert [d.units for d in dense] == [28, 28, 28, 1]
    assert model.output_shape == (None, 1)
    assert sum(layer.__class__.__name__ == "Dropout" for layer in model.layers) == 3


def test_mlp_explicit_widths_and_multiclass_softmax(compose) -> None:
    cfg = model_cfg(compose, "model.hidden_units=[80,64,32]")
    model = build_model(cfg, (9, 9, 1), 5)  # images are flattened
    assert model.output_shape == (None, 5)
    assert model.layers[-1].activation.__name__ == "softmax"


def test_ffn_is_the_cms_papers_network(compose) -> None:
    cfg = model_cfg(compose, "model=ffn")
    model = build_model(cfg, (39,), 3)
    widths = [layer.units for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert widths == [500] * 5 + [3]


def test_cnn_blocks_then_dense_head(compose) -> None:
    cfg = model_cfg(compose, "model=cnn", "model.conv_blocks=3", "model.filters=8", "model.dense_units=[32]")
    model = build_model(cfg, (40, 40, 1), 2)
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 3 and kinds.count("MaxPooling2D") == 3
    assert [layer.filters for layer in model.layers if layer.__class__.__name__ == "Conv2D"] == [8, 16, 32]


def test_cnn_options_check_refuses_pooling_below_one_pixel(compose) -> None:
    cfg = model_cfg(compose, "model=cnn", "model.conv_blocks=6", "model.pool_size=2")
    with pytest.raises(InvalidArchitectureError) as info:
        validate_model(cfg, (40, 40, 1))
    message = str(info.value)
    assert "model.conv_blocks=6" in message and "below 1x1 at block 6" in message
    assert "use model.conv_blocks<=5" in message
    validate_model(OmegaConf.merge(cfg, {"conv_blocks": 5}), (40, 40, 1))  # 40 -> 1 is still fine


def test_cnn_valid_padding_shrinks_too(compose) -> None:
    cfg = model_cfg(compose, "model=cnn", "model.conv_blocks=2", "model.padding=valid", "model.kernel_size=5")
    with pytest.raises(InvalidArchitectureError, match="9x9 input below 1x1 at block 1"):
        validate_model(OmegaConf.merge(cfg, {"pool_size": 6}), (9, 9, 1))


def test_cnn_on_vectors_is_refused(compose) -> None:
    with pytest.raises(InvalidArchitectureError, match="model=cnn needs images"):
        validate_model(model_cfg(compose, "model=cnn"), (28,))


def test_small_resnet_and_resnet50(compose) -> None:
    small = build_model(model_cfg(compose, "model=resnet", "model.stages=[1,1]", "model.filters=4"), (32, 32, 3), 3)
    assert small.output_shape == (None, 3)
    assert any(layer.__class__.__name__ == "Add" for layer in small.layers)
    with pytest.raises(InvalidArchitectureError, match="at least 32x32"):
        validate_model(model_cfg(compose, "model=resnet50"), (24, 24, 3))
    big = build_model(model_cfg(compose, "model=resnet50"), (32, 32, 3), 3)
    assert big.count_params() > 20_000_000  # the real ResNet50, randomly initialised


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.activation=wiggle", "model.activation='wiggle' is unknown"),
        ("model.dropout=1.5", r"model.dropout=1.5 must be in \[0, 1\)"),
        ("model.hidden_units=[8,0]", "must list positive layer widths"),
    ],
)
def test_bad_mlp_values_name_the_key(compose, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_model(model_cfg(compose, override), (10,))


def test_the_checks_import_no_keras() -> None:
    """Every family's check runs before TensorFlow starts (the preflight): importing it and
    refusing with it load neither Keras nor TensorFlow; only building does."""
    code = """
import sys
from omegaconf import OmegaConf
from hepsweep.errors import InvalidArchitectureError
from hepsweep.models import validate_model
from hepsweep.train.preflight import check_config
for name, shape in (("mlp", (28,)), ("cnn", (40, 40, 1)), ("resnet", (32, 32, 3))):
    cfg = OmegaConf.create({"name": name, "hidden_units": None, "n_layers": 2, "units": 8, "activation": "relu",
                            "dropout": 0.1, "conv_blocks": 2, "filters": 4, "kernel_size": 3, "pool_size": 2,
                            "padding": "same", "dense_units": [8], "variant": "small", "stages": [1]})
    validate_model(cfg, shape)
try:
    validate_model(cfg, (28,))
except InvalidArchitectureError:
    pass
from hepsweep.app import compose_config
too_deep = compose_config(["model=cnn", "dataset=belle2_pixels", "model.conv_blocks=4", "tracking=off"])
try:
    check_config(too_deep)
    raise SystemExit("the preflight let a CNN pool 9x9 pixels below 1x1")
except InvalidArchitectureError:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("keras", "tensorflow"))
assert not heavy, heavy[:5]
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
