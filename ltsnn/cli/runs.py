"""``ltsnn train | eval | report | models | ablation``: training runs and what is read back from them.

    ltsnn train [CONFIG.yaml] [key=value ...] [--resume RUN_DIR]
    ltsnn eval RUN_DIR_OR_CHECKPOINT [key=value ...]
    ltsnn report RUN_DIR [key=value ...] [--checkpoint last|best] [--e-mac PJ] [--e-ac PJ] [--first-layer MODE]
    ltsnn models
    ltsnn ablation [CONFIG.yaml] [key=value ...] --modes fixed,stsg,sgp --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path
from typing import Any, Sequence

from torch import nn
from torch.utils.data import DataLoader

from ltsnn.cli.common import UsageError, csv_values, first_line, overrides_only, show_progress, split_items
from ltsnn.config import (Config, ConfigError, DataConfig, ModelConfig, config_to_dict, changed_keys, load_config,
                          save_config)
from ltsnn.data import datasets as data_registry
from ltsnn.data.cache import default_cache_dir
from ltsnn.data.datasets import AugmentedFrames
from ltsnn.data.transforms import Compose, create_transform
from ltsnn.tasks.detection.evaluate import box_filter_preset
from ltsnn.tasks.detection.loss import YoloLoss
from ltsnn.tasks.classification import ClassificationTask
from ltsnn.engine import (RunFolder, evaluate, fit, layer_thresholds, load_checkpoint,
                          seed_everything, test_loader)
from ltsnn.engine.energy import E_AC_PJ, E_MAC_PJ, FIRST_LAYER_MODES
from ltsnn.files import write_text_atomic
from ltsnn.engine.metrics import Record, best_record, format_summary, read_history
from ltsnn.engine.report import write_report
from ltsnn.tasks.detection.task import DetectionTask
from ltsnn.layers.quant import quantize_weights
from ltsnn.tasks.classification.loss import ClassificationLoss
from ltsnn.models import create_model, list_models
from ltsnn.neurons import NEURONS

# Keys that may change when a run is resumed: they do not change what was computed so far.
RESUME_KEYS = ("train.epochs", "train.checkpoint_every", "train.progress", "train.device", "data.root",
               "data.num_workers", "data.cache", "data.cache_dir")
# Keys `ltsnn eval` and `ltsnn report` take: the model and its weights come from the checkpoint, the test data
# may change.
# Not data.seed: it chooses the split, so another seed would evaluate on training samples.
EVAL_KEYS = tuple(f"data.{f.name}" for f in dataclasses.fields(DataConfig) if f.name != "seed") + (
    "train.device", "train.progress")


def add_commands(sub) -> None:
    """Register train, eval, report, models and ablation on the ``ltsnn`` sub-parser ``sub``."""
    t = sub.add_parser("train", help="train a model; writes a run folder",
                       description="Train from CONFIG.yaml (or the defaults) with key=value overrides.")
    t.add_argument("items", nargs="*", metavar="[CONFIG.yaml] [key=value ...]")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    t.set_defaults(run=_cmd_train)

    e = sub.add_parser("eval", help="evaluate a run folder or checkpoint on its test set",
                       description="Rebuild the model and test data from the config stored in the checkpoint.")
    e.add_argument("checkpoint", metavar="RUN_DIR_OR_CHECKPOINT")
    e.add_argument("overrides", nargs="*", metavar="key=value", help=f"one of {', '.join(EVAL_KEYS)}")
    e.set_defaults(run=_cmd_eval)

    r = sub.add_parser("report", help="write RUN_DIR/report/: accuracy, thresholds, firing rates, energy, size",
                       description="Test a run's checkpoint once with the monitors and write report.md, report.json "
                                   "and PNGs into RUN_DIR/report/ (`ltsnn train` writes the same at the end).")
    r.add_argument("run_dir", metavar="RUN_DIR")
    r.add_argument("overrides", nargs="*", metavar="key=value", help=f"one of {', '.join(EVAL_KEYS)}")
    r.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="which checkpoint to measure (default: %(default)s)")
    r.add_argument("--e-mac", type=float, default=E_MAC_PJ, metavar="PJ",
                   help="energy of one multiply-accumulate in pJ (default: %(default)s)")
    r.add_argument("--e-ac", type=float, default=E_AC_PJ, metavar="PJ",
                   help="energy of one accumulate in pJ (default: %(default)s)")
    r.add_argument("--first-layer", choices=FIRST_LAYER_MODES, default="mac",
                   help="count the first layer as T x FLOPs MACs (mac), FLOPs MACs once (mac_once, BICLab's "
                        "formula for static images) or spike-driven ACs (sop) (default: %(default)s)")
    r.set_defaults(run=_cmd_report)

    m = sub.add_parser("models", help="list the registered models, neurons and data sets")
    m.set_defaults(run=_cmd_models)

    a = sub.add_parser("ablation", help="threshold-gradient ablation over modes and seeds (LT-SNN Table 2)",
                       description="Train every mode on every seed on the same data; write ablation.md/.json.")
    a.add_argument("items", nargs="*", metavar="[CONFIG.yaml] [key=value ...]")
    a.add_argument("--modes", default="fixed,stsg,sgp,sgp_official,penalty_for_all",
                   help="comma-separated model.threshold_grad values (default: %(default)s)")
    a.add_argument("--seeds", default="0,1,2", help="comma-separated train.seed values (default: %(default)s)")
    a.set_defaults(run=_cmd_ablation)


# ---------------------------------------------------------------------------------------------- commands

def _cmd_train(args: argparse.Namespace) -> int:
    path, overrides = split_items(args.items)
    if args.resume is None:
        cfg = load_config(path, overrides)
        if cfg.train.init_from:
            cfg, model, model_args = _initial_model(cfg)
        root = _new_run_folder(cfg)
        train_set, test_set = _datasets(cfg.data, progress=show_progress(cfg.train.progress))
        seed_everything(cfg.train.seed)                         # before the model: seeds its initialisation
        if not cfg.train.init_from:
            model, model_args = _model(cfg.model, train_set)
        history = _train_run(cfg, root, model, model_args, train_set, test_set, resume=None)
    else:
        if path is not None:
            raise UsageError(f"train: give {path} or --resume, not both (a run's config is in its checkpoint)")
        root = Path(args.resume)
        cfg, ckpt = _resumable(RunFolder(root), overrides)
        train_set, test_set = _datasets(cfg.data, progress=show_progress(cfg.train.progress))
        model = _build_model(ckpt["model_args"])
        history = _train_run(cfg, root, model, ckpt["model_args"], train_set, test_set, resume=ckpt)
    print(format_summary(history, root=root, metric="map50" if "test_map50" in history[-1] else "acc"))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    path = Path(args.checkpoint)
    ckpt_path = RunFolder(path).last if path.is_dir() else path
    cfg, ckpt, task, loader = _restore(ckpt_path, args.overrides, command="eval")
    model = task.model
    result = evaluate(task, loader, omega=ckpt["omega"], device=cfg.train.device,
                      progress=show_progress(cfg.train.progress))
    print(f"{ckpt_path} (epoch {ckpt['epoch']}): {cfg.data.name} test set, {result['n']} samples, "
          f"T={cfg.data.n_time_bins}: loss {result['loss']:.4f}, {_metrics_text(result)}")
    thresholds, fixed = layer_thresholds(model)
    print(f"{'layer':<24} {'threshold':>9}  {'':<7}  firing rate")
    for name, v in thresholds.items():
        rate = result["firing_rates"].get(name, float("nan"))
        print(f"{name:<24} {v:>9.4f}  {'fixed' if name in fixed else 'learned':<7}  {rate:.4f}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    folder = RunFolder(args.run_dir)
    if not folder.root.is_dir():
        raise FileNotFoundError(f"{folder.root}: no such folder; expected a run folder written by `ltsnn train`")
    history = read_history(folder)
    ckpt_path = folder.last if args.checkpoint == "last" else folder.best
    cfg, ckpt, task, loader = _restore(ckpt_path, args.overrides, command="report")
    report = write_report(folder.report, task=task, loader=loader, history=history, omega=ckpt["omega"],
                          time_steps=_model_steps(cfg), source=f"{ckpt_path} (epoch {ckpt['epoch']})",
                          e_mac=args.e_mac, e_ac=args.e_ac, first_layer=args.first_layer, device=cfg.train.device,
                          progress=show_progress(cfg.train.progress))
    _write_examples(cfg, task, loader.dataset, folder)
    print(_report_line(report, folder))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    print("models:")
    for name, doc in list_models().items():
        print(f"  {name:<18} {doc}")
    print("neurons:")
    for name, cls in sorted(NEURONS.items()):
        print(f"  {name:<18} {first_line(cls)}")
    print("data sets:")
    for name, doc in data_registry.list_datasets().items():
        print(f"  {name:<18} {doc}")
    return 0


def _cmd_ablation(args: argparse.Namespace) -> int:
    path, overrides = split_items(args.items)
    modes = csv_values(args.modes, "--modes", str)
    seeds = csv_values(args.seeds, "--seeds", int)
    for text in overrides:
        key = text.partition("=")[0].strip()
        if key in ("model.threshold_grad", "train.seed"):
            raise UsageError(f"ablation: {key} is set by {'--modes' if key.startswith('model') else '--seeds'}")
    cfg = load_config(path, overrides)
    name = cfg.train.name or f"ablation-{time.strftime('%Y%m%d-%H%M%S')}"
    root = Path(cfg.train.out_dir) / name
    train_set, test_set = _datasets(cfg.data, progress=show_progress(cfg.train.progress))
    for mode in modes:                                          # a bad mode fails now, not after hours
        _model(dataclasses.replace(cfg.model, threshold_grad=mode), train_set)
    runs = []
    for mode in modes:
        for seed in seeds:
            run_name = f"{mode}-seed{seed}"
            run_cfg = dataclasses.replace(
                cfg, model=dataclasses.replace(cfg.model, threshold_grad=mode),
                train=dataclasses.replace(cfg.train, seed=seed, name=f"{name}/{run_name}"))
            folder = RunFolder(root / run_name)
            print(f"== ablation: threshold_grad={mode}, seed={seed} ==")
            if folder.last.is_file():                           # an interrupted ablation picks up where it was
                _, ckpt = _resumable(folder, [], expected=run_cfg)
                history = _train_run(run_cfg, folder.root, _build_model(ckpt["model_args"]), ckpt["model_args"],
                                     train_set, test_set, resume=ckpt)
            else:
                seed_everything(seed)
                model, model_args = _model(run_cfg.model, train_set)
                history = _train_run(run_cfg, folder.root, model, model_args, train_set, test_set, resume=None)
            print(format_summary(history, root=folder.root))
            last, best = history[-1], best_record(history)
            runs.append({"mode": mode, "seed": seed, "run_dir": str(folder.root), "final_acc": last["test_acc"],
                         "best_acc": best["test_acc"], "best_epoch": best["epoch"],
                         "thresholds": last["thresholds"], "fixed_layers": last["fixed_layers"]})
    summary = _ablation_summary(runs, modes)
    table = _ablation_table(summary, cfg, seeds)
    write_text_atomic(root / "ablation.md", table + "\n")
    write_text_atomic(root / "ablation.json", json.dumps(
        {"config": config_to_dict(cfg), "modes": modes, "seeds": seeds, "summary": summary, "runs": runs},
        indent=2) + "\n")
    print(table)
    print(f"written: {root / 'ablation.md'}, {root / 'ablation.json'}")
    return 0


# ---------------------------------------------------------------------------------------------- building

def _train_run(cfg: Config, root: Path, model: nn.Module, model_args: dict[str, Any], train_set, test_set, *,
               resume: dict[str, Any] | None) -> list[Record]:
    """Save the resolved config into the run folder, train (or continue) the run, then write its report."""
    folder = RunFolder(root)
    folder.root.mkdir(parents=True, exist_ok=True)
    save_config(cfg, folder.config)
    n_params = sum(p.numel() for p in model.parameters())
    start = f", resuming after epoch {resume['epoch']}" if resume is not None else ""
    quant = model_args.get("quant")
    weights = f", {quant['bits']}-bit SAWB weights ({quant['coeff']})" if quant else ""
    print(f"run {root}: {cfg.model.name} ({n_params:,} parameters{weights}, threshold_grad={cfg.model.threshold_grad}) "
          f"on {cfg.data.name} ({len(train_set)} train / {len(test_set)} test, T={cfg.data.n_time_bins}), "
          f"loss {_loss_name(cfg, train_set)}, {cfg.train.epochs} epochs{start}")
    task = _task(cfg, model, train_set)
    history = fit(model, train_set=train_set, test_set=test_set, task=task, omega_mode=cfg.loss.omega,
                  epochs=cfg.train.epochs, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay,
                  scheduler=cfg.optim.scheduler, batch_size=cfg.data.batch_size, num_workers=cfg.data.num_workers,
                  seed=cfg.train.seed, run_dir=root, checkpoint_every=cfg.train.checkpoint_every,
                  config=config_to_dict(cfg), model_args=model_args, device=cfg.train.device,
                  progress=show_progress(cfg.train.progress), resume=resume)
    # The model now holds the weights of the last epoch, which is what checkpoints/last.pt holds.
    loader = test_loader(test_set, batch_size=cfg.data.batch_size, num_workers=cfg.data.num_workers)
    report = write_report(folder.report, task=task, loader=loader, history=history,
                          omega=history[-1]["omega"], time_steps=_model_steps(cfg),
                          source=f"{folder.last} (epoch {history[-1]['epoch']})", device=cfg.train.device,
                          progress=show_progress(cfg.train.progress))
    _write_examples(cfg, task, test_set, folder)
    print(_report_line(report, folder))
    return history


def _restore(ckpt_path: Path, overrides: Sequence[str], *,
             command: str) -> tuple[Config, dict[str, Any], ClassificationTask | DetectionTask, DataLoader]:
    """The config, checkpoint, task (the checkpoint's model and the run's loss) and test batches of a
    checkpoint, with the test-data overrides :data:`EVAL_KEYS` applied."""
    ckpt = load_checkpoint(ckpt_path)
    stored = load_config(base=ckpt["config"], source=str(ckpt_path))
    cfg = load_config(None, overrides_only(overrides, command=command), base=ckpt["config"], source=str(ckpt_path))
    _only_keys(changed_keys(stored, cfg), EVAL_KEYS, why=f"{command} rebuilds the model from the checkpoint")
    test_set = _dataset(cfg.data, split="test")
    model = _build_model(ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    model.to(cfg.train.device)
    loader = test_loader(test_set, batch_size=cfg.data.batch_size, num_workers=cfg.data.num_workers)
    return cfg, ckpt, _task(cfg, model, test_set), loader


def _report_line(report: dict[str, Any], folder: RunFolder) -> str:
    total, size = report["synaptic"]["total"], report["size"]
    return (f"report {folder.report / 'report.md'}: test {_metrics_text(report['test'])}, energy per sample "
            f"SNN {total['snn_energy_pj'] / 1e6:.4g} µJ vs ANN {total['ann_energy_pj'] / 1e6:.4g} µJ "
            f"({total['ann_over_snn']:.1f}×), model {size['mb']:.3f} MB "
            f"({size['compression']:.2f}× smaller than float)")


def _resumable(folder: RunFolder, overrides: Sequence[str], *,
               expected: Config | None = None) -> tuple[Config, dict[str, Any]]:
    """The config and checkpoint to continue ``folder`` with; only :data:`RESUME_KEYS` may differ from
    the stored config (from ``overrides``, or from ``expected`` for an ablation's sub-run)."""
    ckpt = load_checkpoint(folder.last)
    source = str(folder.last)
    stored = load_config(base=ckpt["config"], source=source)
    cfg = expected if expected is not None else load_config(None, overrides, base=ckpt["config"], source=source)
    _only_keys(changed_keys(stored, cfg), RESUME_KEYS, why=f"resuming {folder.root} must not change the run")
    if ckpt["epoch"] > cfg.train.epochs:
        raise ConfigError(f"{folder.last} is at epoch {ckpt['epoch']}; train.epochs={cfg.train.epochs} would end "
                          f"before it (expected train.epochs >= {ckpt['epoch']})")
    return cfg, ckpt


def _only_keys(changed: Sequence[str], allowed: Sequence[str], *, why: str) -> None:
    bad = [k for k in changed if k not in allowed]
    if bad:
        raise ConfigError(f"{why}: cannot change {', '.join(bad)}; only {', '.join(allowed)} may change")


def _new_run_folder(cfg: Config) -> Path:
    out = Path(cfg.train.out_dir)
    if cfg.train.name:
        root = out / cfg.train.name
        if root.exists() and any(root.iterdir()):
            raise ConfigError(f"run folder {root} already exists; continue it with `ltsnn train --resume {root}` "
                              f"or set another train.name")
        return root
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root, i = out / stamp, 1
    while root.exists():                                        # two runs started in the same second
        i += 1
        root = out / f"{stamp}-{i}"
    return root


def _dataset(dc: DataConfig, *, split: str, progress: bool = False):
    """The ``split`` of the config's data set; file-based ones go through the frame cache when ``data.cache``."""
    cache_dir = (dc.cache_dir or default_cache_dir()) if dc.cache else None
    data = data_registry.create_dataset(dc.name, split=split, root=dc.root or None, n_time_bins=dc.n_time_bins,
                                        bin_by=dc.bin_by, seed=dc.seed, cache_dir=cache_dir,
                                        num_workers=dc.num_workers, progress=progress, **dc.options)
    cache_file = getattr(data, "cache_file", None)
    if cache_file is not None:
        print(f"data: {dc.name} {split}, {len(data)} samples, frames {'read from' if data.from_cache else 'cached in'} "
              f"{cache_file}")
    if split == "train" and dc.augment:
        transforms = []
        for name, kwargs in dc.augment.items():
            if not isinstance(kwargs, dict):
                raise ConfigError(f"data.augment.{name}: expected a mapping of the transform's arguments, got {kwargs!r}")
            transforms.append(create_transform(name, **kwargs))
        if _is_detection(data):                                 # boxes must follow: the data set applies it
            if not hasattr(data, "set_augment"):
                raise ConfigError(f"data.augment: data set {dc.name} does not support augmentation yet")
            data.set_augment(Compose(transforms), seed=dc.seed)
        else:
            data = AugmentedFrames(data, Compose(transforms), seed=dc.seed)
    return data


def _datasets(dc: DataConfig, *, progress: bool = False):
    return _dataset(dc, split="train", progress=progress), _dataset(dc, split="test", progress=progress)


def _model(mc: ModelConfig, data) -> tuple[nn.Module, dict[str, Any]]:
    """The model of the config, sized for ``data``, and the arguments that rebuild it (kept in checkpoints)."""
    kwargs = dict(mc.options, in_channels=data.in_channels, num_classes=data.num_classes,
                  input_size=list(data.input_size), neuron=mc.neuron, threshold_grad=mc.threshold_grad,
                  learn_first_threshold=mc.learn_first_threshold, neuron_options=dict(mc.neuron_options))
    model_args = {"name": mc.name, "kwargs": kwargs}
    if mc.quant_bits:
        model_args["quant"] = {"bits": mc.quant_bits, "coeff": mc.quant_coeff, "include_linear": mc.quant_linear}
    return _build_model(model_args), model_args


def _model_steps(cfg: Config) -> int:
    """T of the network: the frames per sample, or the repeats of their time-average (``time_input: mean``)."""
    if cfg.model.options.get("time_input") == "mean":
        return int(cfg.model.options.get("mean_repeat", 1))
    return cfg.data.n_time_bins


def _initial_model(cfg: Config) -> tuple[Config, nn.Module, dict[str, Any]]:
    """The model of ``train.init_from``'s checkpoint with its weights, and ``cfg`` with that checkpoint's model
    section (a model key set differently in ``cfg`` is an error: it would be silently ignored)."""
    source = cfg.train.init_from
    ckpt = load_checkpoint(source)
    stored = load_config(base=ckpt["config"], source=source)
    differ = [k for k in changed_keys(Config(), cfg) if k.startswith("model.")
              and k in changed_keys(stored, cfg)]
    if differ:
        raise ConfigError(f"train.init_from={source}: the model comes from that checkpoint, so {', '.join(differ)} "
                          f"cannot be set (expected no model.* keys, or the checkpoint's values)")
    model = _build_model(ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    return dataclasses.replace(cfg, model=stored.model), model, ckpt["model_args"]


def _build_model(model_args: dict[str, Any]) -> nn.Module:
    """The model of ``model_args`` (the dict kept in checkpoints), its weights quantised if it has ``quant``."""
    model = create_model(model_args["name"], **model_args["kwargs"])
    if "quant" in model_args:
        quantize_weights(model, **model_args["quant"])
    return model


def _loss(cfg: Config) -> ClassificationLoss:
    return ClassificationLoss(cfg.loss.kind, cfg.loss.w_tet, cfg.loss.w_mse)


def _is_detection(data) -> bool:
    return getattr(data, "task", "classification") == "detection"


def _task(cfg: Config, model: nn.Module, data) -> ClassificationTask | DetectionTask:
    """The run's task: detection (YOLO loss from the ``detection`` section) for a detection data set, else
    classification (the ``loss`` section)."""
    is_detector = hasattr(model, "grid")
    if not _is_detection(data):
        if is_detector:
            raise ConfigError(f"model.name={cfg.model.name} is a detector but data.name={cfg.data.name} is a "
                              f"classification data set")
        return ClassificationTask(model, _loss(cfg))
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


def _loss_name(cfg: Config, data) -> str:
    return f"yolo ({cfg.detection.cls_loss})" if _is_detection(data) else cfg.loss.preset


def _metrics_text(result: dict[str, Any]) -> str:
    """``accuracy 97.50%`` or ``mAP50 0.4630, mAP 0.1420 (AP50 car 0.51, pedestrian 0.41)``."""
    if "map50" not in result:
        return f"accuracy {100 * result['acc']:.2f}%"
    per_class = ", ".join(f"{name} {ap:.3f}" for name, ap in result["per_class_ap50"].items())
    return f"mAP50 {result['map50']:.4f}, mAP {result['map']:.4f} (AP50 {per_class})"


def _write_examples(cfg: Config, task, test_set, folder: RunFolder) -> None:
    """A detection run's ``report/examples.png``: test frames with predicted and true boxes."""
    if isinstance(task, DetectionTask) and cfg.detection.examples:
        from ltsnn.tasks.detection.plots import write_examples       # matplotlib: imported only when plotting
        path = write_examples(task, test_set, folder.report / "examples.png", count=cfg.detection.examples,
                              device=cfg.train.device)
        print(f"examples: {path}")




# ---------------------------------------------------------------------------------------------- helpers









def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _ablation_summary(runs: Sequence[dict[str, Any]], modes: Sequence[str]) -> dict[str, dict[str, Any]]:
    summary = {}
    for mode in modes:
        rs = [r for r in runs if r["mode"] == mode]
        final_mean, final_std = _mean_std([r["final_acc"] for r in rs])
        best_mean, best_std = _mean_std([r["best_acc"] for r in rs])
        layers = list(rs[0]["thresholds"])
        summary[mode] = {"runs": len(rs), "final_acc_mean": final_mean, "final_acc_std": final_std,
                         "best_acc_mean": best_mean, "best_acc_std": best_std,
                         "thresholds_mean": {n: statistics.fmean(r["thresholds"][n] for r in rs) for n in layers},
                         "fixed_layers": rs[0]["fixed_layers"]}
    return summary


def _ablation_table(summary: dict[str, dict[str, Any]], cfg: Config, seeds: Sequence[int]) -> str:
    """A Markdown table: accuracy mean ± std per mode and the mean threshold per layer after the last epoch."""
    layers = list(next(iter(summary.values()))["thresholds_mean"])
    lines = ["# Threshold-gradient ablation (LT-SNN Table 2)", "",
             f"{cfg.model.name} on {cfg.data.name}, T={cfg.data.n_time_bins}, {cfg.train.epochs} epochs, "
             f"loss {cfg.loss.preset}, seeds {', '.join(map(str, seeds))}. Accuracy on the test set in %, "
             f"mean ± sample std over seeds; thresholds: mean over seeds after the last epoch.", "",
             "| mode | runs | final acc | best acc | " + " | ".join(layers) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(layers)]
    for mode, s in summary.items():
        cells = [f"{s['thresholds_mean'][n]:.3f}{' (fixed)' if n in s['fixed_layers'] else ''}" for n in layers]
        lines.append(f"| {mode} | {s['runs']} | {100 * s['final_acc_mean']:.2f} ± {100 * s['final_acc_std']:.2f} | "
                     f"{100 * s['best_acc_mean']:.2f} ± {100 * s['best_acc_std']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
