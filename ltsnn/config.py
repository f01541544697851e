"""The typed configuration of a run: nested dataclasses read from YAML plus dotted ``key=value`` overrides.

Only the CLI and the builder (:mod:`ltsnn.build`, which turns a :class:`Config` into the explicit arguments
of the library) use this module.
Every key is checked: an unknown section or key, a value of the wrong type or outside its allowed
values raises :class:`ConfigError` with a one-line message naming the source, the key and what was
expected. The resolved config (every key, defaults filled in) is what is saved in a run folder and in
every checkpoint, so a run can be rebuilt from it alone.

    cfg = load_config("configs/ndigits_demo.yaml", ["train.epochs=3", "model.options.dropout=0.1"])

Example:
    >>> cfg = load_config(None, ["train.epochs=3", "model.options.dropout=0.1"])    # no file: the defaults
    >>> cfg.train.epochs, cfg.model.options
    (3, {'dropout': 0.1})
    >>> changed_keys(Config(), cfg)
    ['model.options', 'train.epochs']
    >>> load_config(None, ["train.epochs=0"])
    Traceback (most recent call last):
    ...
    ltsnn.config.ConfigError: the command line: train.epochs: expected a value >= 1, got 0
    >>> load_config(None, ["train.epoch=3"])    # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ltsnn.config.ConfigError: override 'train.epoch=3': unknown key in section 'train' 'epoch'; valid: ..., epochs, ...
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, Union, get_args, get_origin, get_type_hints

from ltsnn.engine.device import MEMORY_FORMATS, resolve_device
from ltsnn.engine.guard import DIVERGENCE_ACTIONS
from ltsnn.engine.loop import LOG_SINKS
from ltsnn.engine.optim import OPTIMIZERS, SCHEDULERS
from ltsnn.engine.precision import PRECISIONS
from ltsnn.engine.tensorboard import require_tensorboard
from ltsnn.functional.quant import SAWB_COEFFS, check_sawb_options
from ltsnn.kernels import BACKENDS
from ltsnn.layers.encoding import ENCODERS, create_encoder
from ltsnn.tasks.classification.loss import LOSS_PRESETS, OMEGA_MODES
from ltsnn.tasks.detection.decode import DECODE_STYLES, NMS_MODES
from ltsnn.tasks.detection.grid import ROUNDINGS
from ltsnn.tasks.detection.loss import CLS_LOSSES
from ltsnn.tasks.detection.task import READOUTS

PROGRESS_MODES = ("auto", "always", "never")
LOSS_KINDS = ("tet", "mean_ce")
# Model keyword arguments the CLI fills in itself: from the data set, or from the model section's own keys.
MODEL_ARGS_FROM_DATA = ("in_channels", "num_classes", "input_size")
MODEL_ARGS_FROM_SECTION = ("neuron", "threshold_grad", "learn_first_threshold", "neuron_options")
# The most time bins a sample may have: far beyond any paper's T (<= 300), far below an allocation that
# would take the machine down (T x 2 x 1280 x 720 float32 frames are 7 GiB per sample at this cap).
MAX_TIME_BINS = 1000


class ConfigError(ValueError):
    """A bad config file, key or value; the message is one line."""



def _yaml():
    """PyYAML, imported on first use: it is part of the ``cli`` extra, not of the core."""
    import yaml
    return yaml


def _load_unique_keys(text: str) -> Any:
    """``yaml.safe_load``, except that a key given twice in one mapping is an error: PyYAML keeps the last
    one silently, so a forgotten earlier ``lr:`` would be ignored without a word."""
    yaml = _yaml()

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return yaml.load(text, Loader=UniqueKeyLoader)

def _choices(*values: str) -> dict[str, Any]:
    return {"choices": values}


def _at_least(bound: float, *, strict: bool = False) -> dict[str, Any]:
    return {"min": bound, "strict": strict}


def _between(low: float, high: float) -> dict[str, Any]:
    return {"min": low, "strict": False, "max": high}


@dataclass
class ModelConfig:
    name: str = "vgg_tiny"                          # a name from `ltsnn models`
    neuron: str = "lif"
    threshold_grad: str = "sgp"                     # fixed | stsg | sgp | sgp_official | penalty_for_all
    learn_first_threshold: bool = False             # the LT-SNN code keeps the first layer's V_th fixed at 1
    neuron_options: dict[str, Any] = field(default_factory=dict)   # e.g. {decay: 0.5, threshold_shape: layer}
    options: dict[str, Any] = field(default_factory=dict)          # extra model kwargs, e.g. {dropout: 0.5}
    quant_bits: int = field(default=0, metadata=_at_least(0))      # SAWB weight bits of the convs; 0: float
    quant_coeff: str = field(default="ibm", metadata=_choices(*SAWB_COEFFS))  # ltsnn_code: LT-SNN's α and grid
    quant_linear: bool = False                      # quantise the Linear weights too (LT-SNN keeps them float)
    # How a static image reaches the network (ltsnn.layers.encoding, methods §7): direct (the intensities every
    # step), poisson (Bernoulli spikes) or rsc (Poisson coding of a Gaussian-smoothed image); its generator is
    # seeded with train.seed. encoder_options: the encoder's own, e.g. {sigma: 0.25} for rsc.
    encoder: str = field(default="direct", metadata=_choices(*ENCODERS))
    encoder_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    name: str = "ndigits"
    root: str = ""                                  # the data set's folder (relative to the working directory);
                                                    # "" for built-in data sets
    n_time_bins: int = field(default=8, metadata=_between(1, MAX_TIME_BINS))     # T
    bin_by: str = "duration"
    options: dict[str, Any] = field(default_factory=dict)         # the data set's own options, e.g. {binary: false}
    seed: int = 0                                   # the data set's own seed, apart from train.seed so that
                                                    # runs with different seeds see the same data
    # The share of the training split held out as the validation split (per class, seeded by data.seed;
    # whole recordings for detection), on which best.pt is chosen; 0: no validation split and no best.pt.
    val_fraction: float = field(default=0.1, metadata=_between(0, 0.5))
    batch_size: int = field(default=32, metadata=_at_least(1))
    num_workers: int = field(default=0, metadata=_at_least(0))     # loader workers; also build the frame cache
    cache: bool = True                              # keep file-based data sets' frames in the on-disk frame cache
    cache_dir: str = ""                             # the cache's folder; "" for $LTSNN_CACHE, else ~/.cache/ltsnn
    # Training-time augmentation, {transform name: its arguments} applied in this order to each training item
    # after the cache, e.g. {frames_flip: {p: 0.5}, frames_roll: {max_shift: 5}}; draws from (data.seed, epoch, index).
    augment: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossConfig:
    # A preset of ltsnn.tasks.classification.loss.LOSS_PRESETS sets kind/w_tet/w_mse/omega; "custom" takes them from here.
    preset: str = field(default="ltsnn_code", metadata=_choices(*LOSS_PRESETS, "custom"))
    kind: str = field(default="tet", metadata=_choices(*LOSS_KINDS))
    w_tet: float = field(default=0.55, metadata=_at_least(0))
    w_mse: float = field(default=0.45, metadata=_at_least(0))
    omega: str = field(default="official", metadata=_choices(*OMEGA_MODES))


@dataclass
class OptimConfig:
    # Adam, as LT-SNN (methods §1.8); the cosine schedule anneals to 0 over train.epochs, stepped per epoch.
    name: str = field(default="adam", metadata=_choices(*OPTIMIZERS))   # sgd: with `momentum`
    lr: float = field(default=1e-3, metadata=_at_least(0, strict=True))
    weight_decay: float = field(default=0.0, metadata=_at_least(0))
    momentum: float = field(default=0.9, metadata=_at_least(0))         # sgd only (an error with adam)
    # The thresholds' own learning rate (LT-SNN Table 8), as their own parameter group; null: lr, one group.
    threshold_lr: float | None = field(default=None, metadata=_at_least(0))
    scheduler: str = field(default="cosine", metadata=_choices(*SCHEDULERS))


@dataclass
class TrainConfig:
    seed: int = 0
    epochs: int = field(default=15, metadata=_at_least(1))
    out_dir: str = "runs"
    name: str = ""                                  # run folder <out_dir>/<name>; "" for a timestamp
    checkpoint_every: int = field(default=1, metadata=_at_least(1))    # epochs; the last epoch always saves
    progress: str = field(default="auto", metadata=_choices(*PROGRESS_MODES))   # auto: if stderr is a TTY
    device: str = "cpu"                             # cpu | cuda | cuda:N | auto (CUDA if there is one)
    # fp32, or autocast to bf16 (CPU or GPU) / fp16 (CUDA, with a loss scaler); neurons stay in fp32 inside.
    precision: str = field(default="fp32", metadata=_choices(*PRECISIONS))
    # Under torchrun: batch statistics over the global batch (every rank's shard), as one process would see.
    sync_batchnorm: bool = False
    # How the LIF neurons run (ltsnn.kernels): auto (fused numba kernels on the CPU, Triton on CUDA, else the
    # torch reference), torch, numba or triton. Not part of the model: a checkpoint runs on any backend.
    neuron_backend: str = field(default="auto", metadata=_choices(*BACKENDS))
    # The layout of the conv weights, and so of every feature map: channels_last trains VGG-9 1.3x faster on
    # the CPU (oneDNN's NHWC convolutions; docs/benchmarks.md). Fixed for a run (resume and eval keep it):
    # the two layouts round differently, so a run repeats bit for bit only in its own.
    memory_format: str = field(default="contiguous", metadata=_choices(*MEMORY_FORMATS))
    # The divergence guard (ltsnn.engine.guard): a step loss over divergence_factor x the median of the
    # recent ones, or a learned threshold outside (threshold_min, threshold_max] after an epoch, stops the
    # run before its checkpoint (on_divergence=stop), is reported once per epoch (warn), or is ignored (off).
    on_divergence: str = field(default="stop", metadata=_choices(*DIVERGENCE_ACTIONS))
    divergence_factor: float = field(default=1000.0, metadata=_at_least(1, strict=True))
    threshold_min: float = 0.0
    threshold_max: float = 1000.0
    # A checkpoint whose model (architecture, neurons, weights) the run starts from, e.g. one written by
    # `ltsnn convert` for hybrid fine-tuning; the model section then comes from that checkpoint.
    init_from: str = ""
    # Where each epoch's record goes (LOG_SINKS): metrics.jsonl always (resuming and reports read it); with
    # tensorboard also <run>/tensorboard/ (scalars and the plots as images; the tensorboard extra).
    log: list[str] = field(default_factory=lambda: ["jsonl"])


@dataclass
class DetectionConfig:
    # Read only when data.name is a detection data set (spec detection.md §2.3-2.5, §4); `loss` is then unused.
    readout: str = field(default="mean", metadata=_choices(*READOUTS))     # loss on the time-mean prediction
    cls_loss: str = field(default="ce", metadata=_choices(*CLS_LOSSES))   # ltsnn_code: 0.25 CE + 0.75 MSE(z, 1)
    rounding: str = field(default="none", metadata=_choices(*ROUNDINGS))  # ltsnn_code: integer boxes in assignment
    lambda_coord: float = field(default=5.0, metadata=_at_least(0))
    lambda_noobj: float = field(default=0.5, metadata=_at_least(0))
    lambda_cls: float = field(default=1.0, metadata=_at_least(0))
    decode: str = field(default="ltsnn", metadata=_choices(*DECODE_STYLES))   # ltsnn_code: p > 0.4, logit scores
    conf_threshold: float = field(default=0.01, metadata=_between(0, 1))
    nms_iou: float = field(default=0.5, metadata=_between(0, 1))
    nms: str = field(default="class_wise", metadata=_choices(*NMS_MODES))
    max_detections: int = field(default=100, metadata=_at_least(0))      # per label instant; 0: no limit
    box_filter: str = "none"                        # evaluation filter preset: psee_rvt | psee_script | cordone | none
    examples: int = field(default=8, metadata=_at_least(0))               # test samples drawn in examples.png


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)


SECTIONS: dict[str, type] = {f.name: f.default_factory for f in dataclasses.fields(Config)}  # type: ignore[misc]


def config_to_dict(cfg: Config) -> dict[str, dict[str, Any]]:
    """The resolved config as plain nested dicts (YAML- and checkpoint-safe)."""
    return dataclasses.asdict(cfg)


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML, in section order."""
    Path(path).write_text(_yaml().safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True))


def load_config(path: str | Path | None = None, overrides: Sequence[str] = (), *,
                base: Mapping[str, Any] | None = None, source: str = "") -> Config:
    """Resolve a config: ``base`` (default: the defaults), then the YAML file at ``path``, then overrides.

    Args:
        path: a YAML file of sections (``model:``, ``data:``, ...); ``None`` for none.
        overrides: ``"section.key=value"`` strings; the value is read as a YAML scalar (``1e-3``, ``true``,
            ``[1, 2]``), except for text keys, which take the text as written. Keys inside the dict-valued
            keys (``model.options.dropout=0.1``) set one entry.
        base: a resolved config as nested dicts (e.g. the one stored in a checkpoint) to start from.
        source: how to name ``base`` in error messages.
    Returns:
        The resolved :class:`Config`; keys set by a loss preset are filled in from the preset.
    Raises:
        ConfigError: unknown section or key (listing the valid ones), wrong type, value out of range.
    """
    tree = config_to_dict(Config())
    if base is not None:
        _merge(tree, base, source=source or "base config", explicit=None)
    explicit: set[str] = set()                      # keys the user set, for the preset check
    if path is not None:
        _merge(tree, _read_yaml(Path(path)), source=str(path), explicit=explicit)
    for text in overrides:
        _apply_override(tree, text, explicit)
    cfg = _build(tree, source=str(path) if path is not None else (source or "the command line"))
    _resolve_loss(cfg, explicit)
    if "optim.momentum" in explicit and cfg.optim.momentum != OptimConfig.momentum and cfg.optim.name != "sgd":
        raise ConfigError(f"optim.momentum={cfg.optim.momentum} is an SGD option; optim.name={cfg.optim.name!r} "
                          f"would ignore it (expected optim.name=sgd, or no optim.momentum)")
    _check_model_options(cfg)
    _check_quant(cfg)
    _check_train(cfg, source=str(path) if path is not None else (source or "the command line"))
    return cfg


def changed_keys(a: Config, b: Config) -> list[str]:
    """Dotted keys whose values differ between two configs."""
    da, db = config_to_dict(a), config_to_dict(b)
    return [f"{s}.{k}" for s in da for k in da[s] if da[s][k] != db[s][k]]


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} not found (expected a YAML file of sections {sorted(SECTIONS)})")
    try:
        data = _load_unique_keys(path.read_text())
    except _yaml().YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections {sorted(SECTIONS)}, got {type(data).__name__}")
    return data


def _section_fields(section: str) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(SECTIONS[section])}


def _unknown(kind: str, key: str, source: str, valid: Sequence[str]) -> ConfigError:
    return ConfigError(f"{source}: unknown {kind} {key!r}; valid: {', '.join(sorted(valid))}")


def _merge(tree: dict, data: Mapping[str, Any], *, source: str, explicit: set[str] | None) -> None:
    """Copy the sections of ``data`` into ``tree``, rejecting unknown sections and keys."""
    for section, values in data.items():
        if section not in SECTIONS:
            raise _unknown("section", section, source, list(SECTIONS))
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {section!r} must be a mapping of keys, got {values!r}")
        fields = _section_fields(section)
        for key, value in values.items():
            if key not in fields:
                raise _unknown(f"key in section {section!r}", key, source, list(fields))
            tree[section][key] = copy.deepcopy(value)    # never alias a base config's dicts
            if explicit is not None:
                explicit.add(f"{section}.{key}")


def _apply_override(tree: dict, text: str, explicit: set[str]) -> None:
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) < 2 or not all(parts):
        raise ConfigError(f"bad override {text!r}; expected section.key=value, e.g. train.epochs=5")
    section, name, rest = parts[0], parts[1], parts[2:]
    if section not in SECTIONS:
        raise _unknown("section", section, f"override {text!r}", list(SECTIONS))
    fields = _section_fields(section)
    if name not in fields:
        raise _unknown(f"key in section {section!r}", name, f"override {text!r}", list(fields))
    tp = get_type_hints(SECTIONS[section])[name]
    if rest and get_origin(tp) is not dict:
        raise ConfigError(f"override {text!r}: {section}.{name} is not a mapping, so it has no sub-keys")
    value = _parse_value(raw, str if tp is str and not rest else None)
    explicit.add(f"{section}.{name}")
    if not rest:
        tree[section][name] = value
        return
    node = tree[section][name]
    for part in rest[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[rest[-1]] = value


def _parse_value(raw: str, as_text: type | None) -> Any:
    """A YAML scalar; for text keys the raw text, so that ``name=007`` or ``preset=on`` stay strings."""
    try:
        value = _yaml().safe_load(raw) if raw.strip() else ""
    except _yaml().YAMLError:
        if as_text is str:
            return raw
        raise ConfigError(f"cannot read {raw!r} as a YAML value") from None
    if as_text is str and not isinstance(value, str):
        return raw
    return value


def _check_type(value: Any, tp: Any, where: str) -> Any:
    if get_origin(tp) in (Union, types.UnionType):              # `float | None`: YAML null, or the other type
        if value is None:
            return None
        tp, = (a for a in get_args(tp) if a is not type(None))
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        if isinstance(value, str):                              # PyYAML reads 1e-3 (no dot) as text
            try:
                value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
        if ok and not math.isfinite(value):                    # nan would slip past every range check
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    elif tp is str:
        ok = isinstance(value, str)
    elif get_origin(tp) is dict:
        ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
    elif get_origin(tp) is list:                                # a list of names, e.g. train.log
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:                                                       # a field type this loader cannot check
        raise TypeError(f"{where}: unsupported config type {tp!r}")
    if not ok:
        expected = "a mapping" if get_origin(tp) is dict else tp.__name__
        raise ConfigError(f"{where}: expected {expected}, got {value!r} ({type(value).__name__})")
    return value


def _check_range(value: Any, f: dataclasses.Field, where: str) -> None:
    if value is None:                                           # an optional key left unset
        return
    choices = f.metadata.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
    if "max" in f.metadata and not f.metadata["min"] <= value <= f.metadata["max"]:
        raise ConfigError(f"{where}: expected a value in [{f.metadata['min']}, {f.metadata['max']}], got {value!r}")
    if "min" in f.metadata:
        low, strict = f.metadata["min"], f.metadata["strict"]
        if value < low or (strict and value == low):
            raise ConfigError(f"{where}: expected a value {'>' if strict else '>='} {low}, got {value!r}")


def _build(tree: dict, *, source: str) -> Config:
    sections = {}
    for section, cls in SECTIONS.items():
        hints = get_type_hints(cls)
        values = {}
        for f in dataclasses.fields(cls):
            where = f"{source}: {section}.{f.name}"
            value = _check_type(tree[section][f.name], hints[f.name], where)
            _check_range(value, f, where)
            values[f.name] = value
        sections[section] = cls(**values)
    return Config(**sections)


def _resolve_loss(cfg: Config, explicit: set[str]) -> None:
    """Fill the loss keys from the preset; setting one to another value is an error, not silently ignored."""
    loss = cfg.loss
    if loss.preset == "custom":
        return
    w_tet, w_mse, omega = LOSS_PRESETS[loss.preset]
    preset = {"kind": "tet", "w_tet": w_tet, "w_mse": w_mse, "omega": omega}
    for key, value in preset.items():
        if f"loss.{key}" in explicit and getattr(loss, key) != value:
            raise ConfigError(f"loss.{key}={getattr(loss, key)!r} conflicts with loss.preset={loss.preset!r} "
                              f"(which sets {key}={value!r}); use loss.preset=custom to set it")
        setattr(loss, key, value)


def _check_model_options(cfg: Config) -> None:
    for key in cfg.model.options:
        if key in MODEL_ARGS_FROM_DATA:
            raise ConfigError(f"model.options.{key}: set from the data set ({', '.join(MODEL_ARGS_FROM_DATA)} "
                              f"come from data.name); remove it")
        if key in MODEL_ARGS_FROM_SECTION:
            raise ConfigError(f"model.options.{key}: use model.{key} instead")
    if "seed" in cfg.model.encoder_options:
        raise ConfigError("model.encoder_options.seed: the encoder is seeded with train.seed; remove it")
    try:
        create_encoder(cfg.model.encoder, **cfg.model.encoder_options)
    except (TypeError, ValueError) as e:                        # an unknown or bad option of the encoder
        raise ConfigError(f"model.encoder_options: {e}") from None


def _check_train(cfg: Config, *, source: str) -> None:
    """The device must exist here ("auto" becomes the one chosen), the threshold range must not be empty."""
    try:
        cfg.train.device = resolve_device(cfg.train.device)
    except ValueError as e:
        raise ConfigError(f"{source}: train.device: {e}") from None
    if cfg.train.precision == "fp16" and not cfg.train.device.startswith("cuda"):
        raise ConfigError(f"{source}: train.precision=fp16 needs train.device=cuda (expected bf16 or fp32 on "
                          f"{cfg.train.device})")
    if not cfg.train.threshold_min < cfg.train.threshold_max:
        raise ConfigError(f"{source}: train.threshold_min={cfg.train.threshold_min} must be below "
                          f"train.threshold_max={cfg.train.threshold_max}")
    unknown = [s for s in cfg.train.log if s not in LOG_SINKS]
    if unknown:
        raise ConfigError(f"{source}: train.log: expected names from {', '.join(LOG_SINKS)}, got {unknown[0]!r}")
    if "tensorboard" in cfg.train.log:
        try:
            require_tensorboard()
        except ModuleNotFoundError as e:
            raise ConfigError(f"{source}: {e}") from None


def _check_quant(cfg: Config) -> None:
    if cfg.model.quant_bits:
        try:
            check_sawb_options(bits=cfg.model.quant_bits, coeff=cfg.model.quant_coeff)
        except ValueError as e:
            raise ConfigError(f"model.quant_bits={cfg.model.quant_bits}: {e}") from None
