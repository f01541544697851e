"""The one builder: a :class:`~ltsnn.config.Config` in, the data sets, model, task, optimizer and scheduler out.

Every CLI command composes its run here, and Python code can do the same without argv::

    from ltsnn.build import build_run
    from ltsnn.config import load_config

    run = build_run(load_config("configs/ndigits_demo.yaml", ["train.epochs=1"]))
    history = run.fit(run_dir="runs/demo")      # = ltsnn.engine.fit(run.task, run.data, run.optimizer, ...)

:func:`restore` reads a checkpoint back: its config (with the overrides a command may apply) and its
model with the trained weights.

Example: the model of a config, for a data set with 2 input channels, 10 classes and 34x34 frames (the
``model_args`` are what a checkpoint keeps to rebuild it):
    >>> from types import SimpleNamespace
    >>> import torch
    >>> cfg = load_config(None, ["model.name=vgg_tiny"])
    >>> model_args = model_args_for(cfg.model, SimpleNamespace(in_channels=2, num_classes=10, input_size=(34, 34)))
    >>> model_args["name"], model_args["kwargs"]["input_size"], model_args["kwargs"]["neuron"]["name"]
    ('vgg_tiny', [34, 34], 'lif')
    >>> model = model_from_args(model_args)
    >>> model(torch.zeros(4, 3, 2, 34, 34)).shape          # [T, B, C, H, W] -> [T, B, K]
    torch.Size([4, 3, 10])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from ltsnn.config import (Config, ConfigError, DataConfig, ModelConfig, OptimConfig, changed_keys, config_to_dict,
                          load_config)
from ltsnn.data.cache import default_cache_dir
from ltsnn.data.datasets import AugmentedFrames, create_dataset
from ltsnn.data.datasets.validation import SplitView, validation_indices
from ltsnn.data.transforms import Compose, create_transform
from ltsnn.engine import (CheckpointError, DivergenceGuard, RunData, Task, fit, load_checkpoint, make_optimizer,
                          make_scheduler, seed_everything)
from ltsnn.engine.device import set_memory_format
from ltsnn.engine.distributed import SINGLE, Distributed, rank_device
from ltsnn.engine.metrics import Record
from ltsnn.engine.precision import Precision
from ltsnn.layers.encoding import EncodedModel, create_encoder
from ltsnn.layers.prune import add_masks
from ltsnn.layers.quant import quantize_weights
from ltsnn.layers.sync_norm import convert_sync_batchnorm
from ltsnn.models import create_model
from ltsnn.neurons import NeuronSpec, find_neurons, reset_states
from ltsnn.tasks.classification import ClassificationLoss, ClassificationTask
from ltsnn.data.box_filter import box_filter_preset
from ltsnn.tasks.detection import DetectionTask, YoloLoss

# Keys that may change when a run is resumed: they do not change what was computed so far.
RESUME_KEYS = ("train.epochs", "train.checkpoint_every", "train.progress", "train.device", "data.root",
               "data.num_workers", "data.cache", "data.cache_dir", "train.neuron_backend", "train.on_divergence",
               "train.divergence_factor", "train.log")
# Keys `ltsnn eval`, `report` and `convert` take: the model and its weights come from the checkpoint, the test
# data may change. Not data.seed: it chooses the split, so another seed would evaluate on training samples.
EVAL_KEYS = tuple(f"data.{f.name}" for f in dataclasses.fields(DataConfig) if f.name != "seed") + (
    "train.device", "train.progress", "train.neuron_backend")


# ---------------------------------------------------------------------------------------------- data

def build_dataset(dc: DataConfig, *, split: str, progress: bool = False,
                  log: Callable[[str], None] = print) -> Dataset:
    """The ``split`` ("train", "val" or "test") of the config's data set; file-based ones go through the frame
    cache when ``data.cache``, and the training split gets ``data.augment``.

    With ``data.val_fraction`` > 0, "val" is that share of the data set's training split
    (:mod:`ltsnn.data.datasets.validation`: per class, or whole recordings, seeded by ``data.seed``) and
    "train" the rest; the test split is never touched.
    """
    if split == "val" and not dc.val_fraction > 0:
        raise ConfigError("data.val_fraction is 0: the data set has no validation split (expected a value > 0)")
    cache_dir = (dc.cache_dir or default_cache_dir()) if dc.cache else None
    data = create_dataset(dc.name, split="train" if split == "val" else split, root=dc.root or None,
                          n_time_bins=dc.n_time_bins, bin_by=dc.bin_by, seed=dc.seed, cache_dir=cache_dir,
                          num_workers=dc.num_workers, progress=progress, **dc.options)
    cache_file = getattr(data, "cache_file", None)
    if cache_file is not None:
        log(f"data: {dc.name} {split}, {len(data)} samples, frames {'read from' if data.from_cache else 'cached in'} "
            f"{cache_file}")
    if split != "test" and dc.val_fraction > 0:
        train, val = validation_indices(data, fraction=dc.val_fraction, seed=dc.seed)
        data = SplitView(data, val if split == "val" else train)
    if split == "train" and dc.augment:
        transforms = []
        for name, kwargs in dc.augment.items():
            if not isinstance(kwargs, dict):
                raise ConfigError(f"data.augment.{name}: expected a mapping of the transform's arguments, got {kwargs!r}")
            try:
                transforms.append(create_transform(name, **kwargs))
            except (TypeError, ValueError) as e:                # an unknown or bad argument of the transform
                raise ConfigError(f"data.augment.{name}: {e}") from None
        if is_detection(data):                                  # boxes must follow: the data set applies it
            if not hasattr(data, "set_augment"):
                raise ConfigError(f"data.augment: data set {dc.name} does not support augmentation yet")
            data.set_augment(Compose(transforms), seed=dc.seed)
        else:
            data = AugmentedFrames(data, Compose(transforms), seed=dc.seed)
    return data


def is_detection(data: Dataset) -> bool:
    """Whether ``data`` is a detection data set (its items' targets are boxes)."""
    return getattr(data, "task", "classification") == "detection"


# ---------------------------------------------------------------------------------------------- model

def model_args_for(mc: ModelConfig, data: Dataset, *, seed: int = 0) -> dict[str, Any]:
    """How to build the config's model for ``data`` (the dict kept in checkpoints, see :func:`model_from_args`);
    ``seed`` seeds a stochastic input encoder (``model.encoder``; the run's ``train.seed``)."""
    neuron = NeuronSpec(mc.neuron, threshold_grad=mc.threshold_grad, learn_first_threshold=mc.learn_first_threshold,
                        options=dict(mc.neuron_options))
    kwargs = dict(mc.options, in_channels=data.in_channels, num_classes=data.num_classes,
                  input_size=list(data.input_size), neuron=neuron.to_dict())
    model_args: dict[str, Any] = {"name": mc.name, "kwargs": kwargs}
    if mc.quant_bits:
        model_args["quant"] = {"bits": mc.quant_bits, "coeff": mc.quant_coeff, "include_linear": mc.quant_linear}
    if mc.encoder != "direct":                                  # direct coding: the model as it always was
        model_args["encoder"] = {"name": mc.encoder, "options": {**mc.encoder_options, "seed": seed}}
    return model_args


def model_from_args(model_args: Mapping[str, Any]) -> nn.Module:
    """The model of ``model_args`` (``{"name", "kwargs"[, "quant"][, "encoder"]}``), its weights quantised if it
    has ``quant``, its input coded by an :class:`~ltsnn.layers.EncodedModel` if it has ``encoder``."""
    model = create_model(model_args["name"], **model_args["kwargs"])
    if "quant" in model_args:
        quantize_weights(model, **model_args["quant"])
    if "encoder" in model_args:
        model = EncodedModel(create_encoder(model_args["encoder"]["name"], **model_args["encoder"]["options"]), model)
    if "prune" in model_args:       # `ltsnn prune`'s masks, after SAWB (a pruned weight stays exactly 0);
        add_masks(model, model_args["prune"]["layers"])     # all ones until load_state_dict fills them
    return model


# ---------------------------------------------------------------------------------------------- task, optimizer

def build_task(cfg: Config, model: nn.Module, data: Dataset) -> Task:
    """The run's task: detection (YOLO loss from the ``detection`` section) for a detection data set, else
    classification (the ``loss`` section)."""
    is_detector = hasattr(model, "grid")
    if not is_detection(data):
        if is_detector:
            raise ConfigError(f"model.name={cfg.model.name} is a detector but data.name={cfg.data.name} is a "
                              f"classification data set")
        loss = ClassificationLoss(cfg.loss.kind, cfg.loss.w_tet, cfg.loss.w_mse)
        return ClassificationTask(model, loss, mean_threshold=cfg.loss.omega)
    if not is_detector:
        raise ConfigError(f"data.name={cfg.data.name} is a detection data set; model.name={cfg.model.name} is not a "
                          f"detector (expected one of yolo_tiny, yolo_ltsnn)")
    dc = cfg.detection
    loss = YoloLoss(model.grid, model.num_boxes, model.num_classes, model.input_size, cls_loss=dc.cls_loss,
                    rounding=dc.rounding, lambda_coord=dc.lambda_coord, lambda_noobj=dc.lambda_noobj,
                    lambda_cls=dc.lambda_cls)
    decode_options = {"conf_threshold": dc.conf_threshold, "nms_iou": dc.nms_iou, "nms": dc.nms, "style": dc.decode,
                      "max_detections": dc.max_detections or None}
    try:
        box_filter = box_filter_preset(dc.box_filter, getattr(data, "filter_sensor", "gen1"))
    except ValueError as e:
        raise ConfigError(f"detection.box_filter={dc.box_filter!r}: {e}") from None
    return DetectionTask(model, loss, readout=dc.readout, decode_options=decode_options, class_names=data.classes,
                         sensor_size=data.sensor_size, box_filter=box_filter)


def build_optimizer(oc: OptimConfig, model: nn.Module, *, epochs: int
                    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """The optimizer of ``model``'s parameters and its per-epoch schedule over ``epochs``."""
    optimizer = make_optimizer(model, oc.name, lr=oc.lr, weight_decay=oc.weight_decay, momentum=oc.momentum,
                               threshold_lr=oc.threshold_lr)
    return optimizer, make_scheduler(optimizer, oc.scheduler, epochs=epochs)


# ---------------------------------------------------------------------------------------------- a whole run

@dataclass
class Run:
    """Everything :func:`ltsnn.engine.fit` needs, built from one config."""

    config: Config
    data: RunData
    task: Task
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    model_args: dict[str, Any]
    device: str = "cpu"                                         # this process's device (one per torchrun rank)

    @property
    def model(self) -> nn.Module:
        return self.task.model

    def fit(self, *, run_dir: str | Path, resume: Mapping[str, Any] | None = None, progress: bool = False,
            log: Callable[[str], None] = print, stop_after: int | None = None) -> list[Record]:
        """Train the run with :func:`ltsnn.engine.fit` under its config's ``train`` section; ``stop_after``:
        stop after that many epochs of the same schedule (``ltsnn prune`` replays a run to its rewind epoch)."""
        tc = self.config.train
        guard = DivergenceGuard(tc.on_divergence, loss_factor=tc.divergence_factor, threshold_min=tc.threshold_min,
                                threshold_max=tc.threshold_max, warn=log)
        return fit(self.task, self.data, self.optimizer, self.scheduler, epochs=stop_after or tc.epochs,
                   run_dir=run_dir,
                   checkpoint_every=tc.checkpoint_every, device=self.device, progress=progress, resume=resume,
                   model_args=self.model_args, config=config_to_dict(self.config), guard=guard,
                   precision=Precision(tc.precision, self.device), log=log, sinks=tuple(tc.log))


def build_run(cfg: Config, *, model: nn.Module | None = None, model_args: Mapping[str, Any] | None = None,
              datasets: tuple[Dataset, Dataset] | None = None, progress: bool = False,
              log: Callable[[str], None] = print, dist: Distributed = SINGLE) -> Run:
    """The data, task, optimizer and scheduler of ``cfg``'s run.

    The generators are seeded with ``train.seed`` after the data sets are built, then the model is built from
    ``cfg.model`` (so its initialisation is seeded), unless ``model`` and its ``model_args`` are given (a
    fine-tuned run, or a resumed one, whose generators the checkpoint then restores); ``datasets``
    reuses already built (train, val, test) sets (or (train, test) without validation), e.g. across the runs
    of an ablation. ``dist``: this process's
    place among torchrun's (:func:`ltsnn.engine.distributed.from_environment`); with ``train.sync_batchnorm``
    the model's batch norms then reduce their statistics over all ranks.
    """
    splits = ("train", "val", "test") if cfg.data.val_fraction > 0 else ("train", "test")
    built = datasets or tuple(build_dataset(cfg.data, split=split, progress=progress, log=log) for split in splits)
    train, test, val = built[0], built[-1], (built[1] if len(built) == 3 else None)
    seed_everything(cfg.train.seed)                             # the model's init, and every draw of a fine-tune
    if model is None:
        model_args = model_args_for(cfg.model, train, seed=cfg.train.seed)
        model = model_from_args(model_args)
    elif model_args is None:
        raise ValueError("build_run: a given model needs its model_args (how a checkpoint rebuilds it)")
    set_neuron_backend(model, cfg.train.neuron_backend)
    set_memory_format(model, cfg.train.memory_format)
    if dist.enabled:
        materialize(model, train)
        if cfg.train.sync_batchnorm:
            model = convert_sync_batchnorm(model)               # same parameters and state-dict keys
    device = rank_device(cfg.train.device, dist)
    optimizer, scheduler = build_optimizer(cfg.optim, model, epochs=cfg.train.epochs)
    data = RunData(train, test, batch_size=cfg.data.batch_size, num_workers=cfg.data.num_workers, seed=cfg.train.seed,
                   pin_memory=device.startswith("cuda"), dist=dist, val=val)
    return Run(cfg, data, build_task(cfg, model, train), optimizer, scheduler, dict(model_args), device)


def materialize(model: nn.Module, data: Dataset) -> None:
    """Give parameters sized by the first input (LM-HT's T-GIM ``M``) their size, by one forward of one
    training sample in eval mode without gradients: DistributedDataParallel registers the parameters
    when it wraps the model, so they must not change shape afterwards. Nothing is learned or drawn
    (no dropout, no batch-norm statistics update)."""
    was_training = model.training
    frames = torch.as_tensor(data[0][0])                        # one sample [T, C, H, W]
    with torch.no_grad():
        model.eval()(frames.unsqueeze(1))                       # time-major [T, 1, C, H, W]
    reset_states(model)
    model.train(was_training)


def set_neuron_backend(model: nn.Module, backend: str) -> None:
    """Run every neuron of ``model`` that has kernel backends (the LIF) on ``backend`` (:mod:`ltsnn.kernels`)."""
    for _, neuron in find_neurons(model):
        if hasattr(neuron, "backend"):
            neuron.backend = backend


# ---------------------------------------------------------------------------------------------- checkpoints

@dataclass
class Restored:
    """A checkpoint read back: its config (overrides applied), the checkpoint dict, its model with weights."""

    config: Config
    checkpoint: dict[str, Any]
    model: nn.Module


def restore(checkpoint: str | Path, overrides: Sequence[str] = (), *, allowed: Sequence[str],
            why: str = "the model comes from the checkpoint", expected: Config | None = None) -> Restored:
    """Read ``checkpoint`` and rebuild its model with the trained weights.

    Args:
        overrides: ``key=value`` strings applied to the stored config.
        allowed: the dotted keys that may differ from the stored config (e.g. :data:`EVAL_KEYS`,
            :data:`RESUME_KEYS`); any other change is a :class:`ConfigError` that says ``why``.
        expected: a whole config to use instead of stored + ``overrides`` (an ablation's sub-run), under the
            same check.
    Raises:
        CheckpointError: missing or foreign file. ConfigError: a key outside ``allowed`` changed.
    """
    ckpt = load_checkpoint(checkpoint)
    source = str(checkpoint)
    if "name" not in ckpt["model_args"]:
        raise CheckpointError(f"{source}: the checkpoint does not say how to rebuild its model (empty model_args); "
                              f"expected one written by `ltsnn train` or `ltsnn convert`")
    stored = load_config(base=ckpt["config"], source=source)
    cfg = expected if expected is not None else load_config(None, overrides, base=ckpt["config"], source=source)
    bad = [k for k in changed_keys(stored, cfg) if k not in allowed]
    if bad:
        raise ConfigError(f"{why}: cannot change {', '.join(bad)}; only {', '.join(allowed)} may change")
    if ckpt["version"] == 1:
        ckpt["model_args"] = _model_args_v1(ckpt["model_args"])
    model = model_from_args(ckpt["model_args"])
    set_neuron_backend(model, cfg.train.neuron_backend)
    set_memory_format(model, cfg.train.memory_format)              # as trained: the layouts round differently
    weights = ckpt["model"]
    if ckpt["version"] == 1:                                    # I-LIF kept a placeholder v_th buffer then
        weights = {k: v for k, v in weights.items() if k in model.state_dict() or not k.endswith(".v_th")}
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:                                   # missing, unexpected or mis-shaped tensors
        raise CheckpointError(f"{source}: the weights do not fit the model its model_args describe: "
                              f"{' '.join(str(e).split())[:400]}") from None
    return Restored(cfg, ckpt, model)


def _model_args_v1(model_args: Mapping[str, Any]) -> dict[str, Any]:
    """Version-1 checkpoints gave the neuron as four model keywords; fold them into the neuron spec."""
    kw = dict(model_args["kwargs"])
    if not isinstance(kw.get("neuron", ""), str):
        return dict(model_args)
    spec = NeuronSpec(kw.pop("neuron", "lif"), threshold_grad=kw.pop("threshold_grad", "sgp"),
                      learn_first_threshold=kw.pop("learn_first_threshold", False),
                      options=dict(kw.pop("neuron_options", None) or {}))
    return {**model_args, "kwargs": {**kw, "neuron": spec.to_dict()}}


def initial_model(cfg: Config) -> tuple[Config, nn.Module, dict[str, Any]]:
    """The model of ``train.init_from``'s checkpoint with its weights, and ``cfg`` with that checkpoint's model
    section (a model key set differently in ``cfg`` is an error: it would be silently ignored)."""
    source = cfg.train.init_from
    restored = restore(source, allowed=())
    stored = restored.config
    differ = [k for k in changed_keys(Config(), cfg) if k.startswith("model.") and k in changed_keys(stored, cfg)]
    if differ:
        raise ConfigError(f"train.init_from={source}: the model comes from that checkpoint, so {', '.join(differ)} "
                          f"cannot be set (expected no model.* keys, or the checkpoint's values)")
    return dataclasses.replace(cfg, model=stored.model), restored.model, restored.checkpoint["model_args"]
