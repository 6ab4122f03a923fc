"""Structured schemas of hepsweep's config groups, registered in Hydra's ConfigStore.

Every YAML file under ``conf/`` starts from one of these schemas, so a misspelt key or a value
of the wrong type is refused while the config is composed, before any data is touched.
"""


import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import difflib
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from hepsweep.errors import ConfigError
from hepsweep.metrics import VAL_AUC


OUTPUT_ENV = "HEPSWEEP_OUTPUT"


def default_output_root() -> Path:
    """Where hepsweep keeps its stores and folders when no composed config says
    (``output_root`` in conf/config.yaml reads the same variable): ``$HEPSWEEP_OUTPUT`` or ./outputs."""
    return Path(os.environ.get(OUTPUT_ENV, "outputs")).expanduser().resolve()


@dataclass
class SplitConfig:
    """Fractions of the events used for training, validation and the untouched test set."""

    train: float = 0.7
    val: float = 0.15
    test: float = 0.15


@dataclass
class DatasetConfig:
    """Common knobs of every dataset: a built-in generator by default, a real file with ``path``."""

    name: str = MISSING
    path: Optional[str] = None
    test_path: Optional[str] = None
    n_events: int = 20000
    max_events: Optional[int] = None
    seed: int = 1234
    split: SplitConfig = field(default_factory=SplitConfig)
    cache_dir: Optional[str] = None
    # events with weights (an .npz `w`, an ntuple's dataset.weight): each class normalised to the
    # same total in training; negative weights: keep | drop (weight 0 in training) | abs
    balance_classes: bool = True
    negative_weights: str = "keep"


@dataclass
class HepmassConfig(DatasetConfig):
    """HEPMASS: 27 normalised features plus the unnormalised mass hypothesis, binary labels."""

    name: str = "hepmass"
    masses: List[float] = field(default_factory=lambda: [500.0, 750.0, 1000.0, 1250.0, 1500.0])


@dataclass
class NtdPitsConfig(DatasetConfig):
    """MoEDAL NTD etch-pit images (HIPSTER): pit / no pit, greyscale, about 40x40 pixels."""

    name: str = "ntd_pits"
    n_events: int = 800
    image_size: int = 40


@dataclass
class Belle2PixelsConfig(DatasetConfig):
    """Belle II pixel-detector clusters: 9x9 images or the 6 cluster features, up to 5 classes."""

    name: str = "belle2_pixels"
    representation: str = "image"
    classes: List[str] = field(
        default_factory=lambda: ["background", "monopole", "pion", "proton", "deuteron"]
    )


@dataclass
class CmsEventsConfig(DatasetConfig):
    """CMS open-data style events (ttbar / W+jets / Drell-Yan) as features or as event images."""

    name: str = "cms_events"
    representation: str = "features"
    image_size: int = 224
    radius_scale: float = 10.5
    n_events: int = 6000


@dataclass
class NtupleConfig(DatasetConfig):
    """A physicist's own ntuples: ROOT (TTree, RNTuple), HDF5, Parquet or CSV files, one file
    set per class, with features, a selection, per-event weights and jagged collections."""

    name: str = "ntuple"
    # class name -> files or globs, e.g. {signal: [ttH_*.root], background: [ttbar.root]}
    classes: Any = None  # typed Any: a dict given on the command line replaces it whole
    # or: one file set in `path` and the class of each row from this expression
    label: Optional[str] = None
    label_classes: List[str] = field(default_factory=lambda: ["background", "signal"])
    signal_class: Optional[str] = None  # default: the class named signal, else the first
    tree: Optional[str] = None  # TTree / RNTuple / HDF5 dataset; optional when the file has one
    features: List[str] = field(default_factory=list)  # branch names or expressions
    selection: Optional[str] = None  # a per-event cut, e.g. (nJet >= 4) & (MET_pt > 20)
    weight: Optional[str] = None  # a branch or an expression, e.g. genWeight * xsec_weight
    objects: Any = None  # {Jet: 4}: the leading 4 of every Jet_* feature (a dict of whole numbers)
    pad_value: float = 0.0
    per_object: Optional[str] = None  # one row per object of this collection instead of per event
    step_size: int = 200_000  # rows read at a time


@dataclass
class MetricsConfig:
    """Which figures of merit every run measures besides the fixed ones (hepsweep.metrics)."""

    # each gives test_bkg_rejection_at_<N>pct_sig, usable as the objective
    signal_efficiencies: List[float] = field(default_factory=lambda: [0.5])


@dataclass
class ModelConfig:
    name: str = MISSING


@dataclass
class MLPConfig(ModelConfig):
    """Fully connected network: ``n_layers`` hidden layers of ``units`` (or an explicit list)."""

    name: str = "mlp"
    n_layers: int = 3
    units: int = 64
    hidden_units: Optional[List[int]] = None
    activation: str = "relu"
    dropout: float = 0.0
    batch_norm: bool = False


@dataclass
class CNNConfig(ModelConfig):
    """HIPSTER-style CNN: conv blocks each followed by pooling, then a dense head."""

    name: str = "cnn"
    conv_blocks: int = 2
    filters: int = 16
    filter_growth: float = 2.0
    kernel_size: int = 3
    padding: str = "same"
    pool_size: int = 2
    dense_units: List[int] = field(default_factory=lambda: [64])
    activation: str = "relu"
    dropout: float = 0.25


@dataclass
class ResNetConfig(ModelConfig):
    """Residual network: a small configurable one, or Keras' ResNet50 (untrained, weights=None)."""

    name: str = "resnet"
    variant: str = "small"
    filters: int = 16
    stages: List[int] = field(default_factory=lambda: [2, 2])
    dense_units: List[int] = field(default_factory=list)
    activation: str = "relu"
    dropout: float = 0.0


@dataclass
class OptimizerConfig:
    """Optimiser choice and its usual knobs; knobs another optimiser does not use are ignored."""

    name: str = MISSING
    lr: float = 1e-3
    clipnorm: Optional[float] = None
    weight_decay: Optional[float] = None


@dataclass
class AdamConfig(OptimizerConfig):
    name: str = "adam"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    amsgrad: bool = False


@dataclass
class SGDConfig(OptimizerConfig):
    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False


@dataclass
class RMSpropConfig(OptimizerConfig):
    name: str = "rmsprop"
    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float = 1e-7
    centered: bool = False


@dataclass
class DeviceConfig:
    """Where TensorFlow trains: ``cpu``, ``gpu`` (refused without one) or ``auto``."""

    name: str = "auto"
    memory_growth: bool = True
    mixed_precision: bool = False
    intra_op_threads: int = 0
    inter_op_threads: int = 0


@dataclass
class TrainConfig:
    """How one model is fitted: epochs, batch size, early stopping, seed, outputs."""

    epochs: int = 10
    batch_size: int = 256
    early_stopping_patience: int = 3
    restore_best_weights: bool = True
    seed: int = 42
    shuffle: bool = True
    progress: bool = True
    tensorboard: bool = True
    checkpoint: bool = True
    plots: bool = True
    # batches per call into the traced training step: fewer Python round-trips per epoch, the
    # same updates (per-batch callbacks then see every N-th batch)
    steps_per_execution: int = 16


@dataclass
class TrackingConfig:
    """MLflow tracking: the default is a SQLite store plus an artifact folder under ``output_root``."""

    enabled: bool = True
    uri: Optional[str] = None
    experiment: Optional[str] = None
    log_artifacts: bool = True
    utilisation_interval_s: float = 1.0
    # in a sweep, which trials log an MLflow model (raw events in, probabilities out): best (each
    # trial that becomes the study's best, ~0.5 s each), all (every complete trial) or none
    log_models: str = "best"
    # register the study's best trial in the Model Registry under this name (alias champion)
    register_as: Optional[str] = None


@dataclass
class HepsweepConfig:
    """The composed configuration of one training run."""

    dataset: Any = MISSING
    model: Any = MISSING
    optimizer: Any = MISSING
    device: DeviceConfig = field(default_factory=DeviceConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    objective: Any = VAL_AUC
    output_root: str = "outputs"
    # how `hepsweep report` and the study's parent run present the study:
    # trials | hipster | batch_size | hepmass | cms
    report: str = "trials"


DATASET_SCHEMAS: Dict[str, type] = {
    "hepmass": HepmassConfig,
    "ntd_pits": NtdPitsConfig,
    "belle2_pixels": Belle2PixelsConfig,
    "cms_events": CmsEventsConfig,
    "ntuple": NtupleConfig,
}
MODEL_SCHEMAS: Dict[str, type] = {"mlp": MLPConfig, "cnn": CNNConfig, "resnet": ResNetConfig}
OPTIMIZER_SCHEMAS: Dict[str, type] = {"adam": AdamConfig, "sgd": SGDConfig, "rmsprop": RMSpropConfig}


def register_configs() -> None:
    """Store the schemas so that ``conf/`` files can name them in their defaults lists."""
    store = ConfigStore.instance()
    store.store(name="hepsweep_schema", node=HepsweepConfig)
    for group, schemas in (
        ("dataset", DATASET_SCHEMAS),
        ("model", MODEL_SCHEMAS),
        ("optimizer", OPTIMIZER_SCHEMAS),
    ):
        for name, schema in schemas.items():
            store.store(group=group, name=f"{name}_schema", node=schema)
    store.store(group="device", name="device_schema", node=DeviceConfig)
    store.store(group="train", name="train_schema", node=TrainConfig)
    store.store(group="tracking", name="tracking_schema", node=TrackingConfig)


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=@-]{0,127}")


def check_plain_name(name: Any, key: str) -> None:
    """Refuse a name that could become a path outside the output folder (``..``, ``a/b``, ``~``)."""
    text = str(name) if name is not None else ""
    if not _PLAIN_NAME.fullmatch(text) or ".." in text:
        raise ConfigError(
            f"{key}={text!r} is not a plain name; use letters, digits and _ . - + = @ "
            "(at most 128, not starting with '.', no '/' or '..')"
        )


def check_known_keys(cfg: DictConfig, prefix: str = "") -> None:
    """Refuse a key that no schema declares (``+dataset.weight_column=w``): Hydra's ``+`` adds it
    to a typed group without a word, and it would be written into config.yaml and ignored."""
    for key in list(cfg.keys()):
        if not prefix and key == "hydra":  # Hydra's own node: Hydra checks it
            continue
        if OmegaConf.is_interpolation(cfg, str(key)) or OmegaConf.is_missing(cfg, str(key)):
            continue
        node = cfg[key]
        if not isinstance(node, DictConfig):
            continue
        schema = OmegaConf.get_type(node)
        if not dataclasses.is_dataclass(schema):
            continue
        declared = [f.name for f in dataclasses.fields(schema)]
        for name in node.keys():
            if name not in declared:
                near = difflib.get_close_matches(str(name), declared, n=1)
                hint = f"did you mean {prefix}{key}.{near[0]}? " if near else ""
                raise ConfigError(
                    f"{prefix}{key}.{name} is not a key of {prefix}{key}; {hint}its keys are {', '.join(declared)}"
                )
        check_known_keys(node, f"{prefix}{key}.")
