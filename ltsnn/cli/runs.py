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
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ltsnn.cli.common import UsageError, csv_values, first_line, overrides_only, show_progress, split_items

# The library (torch and all) is imported inside the commands, so that `ltsnn train --help` starts at once.
if TYPE_CHECKING:
    from ltsnn.build import Run
    from ltsnn.config import Config
    from ltsnn.engine import RunFolder
    from ltsnn.engine.distributed import Distributed
    from ltsnn.engine.metrics import Record

# ltsnn.engine.energy's E_MAC_PJ, E_AC_PJ and FIRST_LAYER_MODES, spelled out for --help without importing torch;
# tests/test_cli_help.py checks they are the same.
E_MAC_PJ, E_AC_PJ, FIRST_LAYER_MODES = 4.6, 0.9, ("mac", "mac_once", "sop")
EVAL_KEYS_TEXT = "a data.* key other than data.seed, train.device, train.progress or train.neuron_backend"


def add_commands(sub) -> None:
    """Register train, eval, report, models and ablation on the ``ltsnn`` sub-parser ``sub``."""
    t = sub.add_parser("train", description="Train from CONFIG.yaml (or the defaults) with key=value overrides.",
                       epilog="Config keys are section.key, in the sections model, data, loss, optim, train and "
                              "detection; `ltsnn config` lists every key with its type, default and allowed values "
                              "(`ltsnn config train`: one section).")
    t.add_argument("items", nargs="*", metavar="[CONFIG.yaml] [key=value ...]")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    t.set_defaults(run=_cmd_train)

    e = sub.add_parser("eval", description="Rebuild the model and test data from the config stored in the checkpoint.")
    e.add_argument("checkpoint", metavar="RUN_DIR_OR_CHECKPOINT")
    e.add_argument("overrides", nargs="*", metavar="key=value", help=EVAL_KEYS_TEXT)
    e.set_defaults(run=_cmd_eval)

    r = sub.add_parser("report", description="Test a run's checkpoint once with the monitors and write report.md, "
                                             "report.json and PNGs into RUN_DIR/report/ (`ltsnn train` writes the "
                                             "same at the end).")
    r.add_argument("run_dir", metavar="RUN_DIR")
    r.add_argument("overrides", nargs="*", metavar="key=value", help=EVAL_KEYS_TEXT)
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

    m = sub.add_parser("models", description="List the registered models, neurons and data sets.")
    m.set_defaults(run=_cmd_models)

    a = sub.add_parser("ablation", description="Train every mode on every seed on the same data; write ablation.md/.json.")
    a.add_argument("items", nargs="*", metavar="[CONFIG.yaml] [key=value ...]")
    a.add_argument("--modes", default="fixed,stsg,sgp,sgp_official,penalty_for_all",
                   help="comma-separated model.threshold_grad values (default: %(default)s)")
    a.add_argument("--seeds", default="0,1,2", help="comma-separated train.seed values (default: %(default)s)")
    a.set_defaults(run=_cmd_ablation)


# ---------------------------------------------------------------------------------------------- commands

def _cmd_train(args: argparse.Namespace) -> int:
    import torch

    from ltsnn.build import build_run, initial_model
    from ltsnn.config import load_config
    from ltsnn.engine import RunFolder
    from ltsnn.engine.metrics import format_summary

    path, overrides = split_items(args.items)
    model = model_args = resume = None
    if args.resume is None:
        cfg = load_config(path, overrides)
        dist = _join(cfg)
        if cfg.train.init_from:
            cfg, model, model_args = initial_model(cfg)
        root = dist.broadcast(_new_run_folder(cfg) if dist.is_main else None)
    else:
        if path is not None:
            raise UsageError(f"train: give {path} or --resume, not both (a run's config is in its checkpoint)")
        folder = RunFolder(args.resume)
        root = folder.root
        if folder.last.is_file():
            restored = _resumable(folder, overrides)
            cfg = restored.config
            if restored.checkpoint["epoch"] == cfg.train.epochs:
                print(f"run {root} has finished its {cfg.train.epochs} epochs; nothing to do "
                      f"(train.epochs=N continues it to epoch N)")
                return 0
            dist = _join(cfg)
            model, model_args, resume = restored.model, restored.checkpoint["model_args"], restored.checkpoint
        else:
            cfg = _restartable(folder, overrides)
            dist = _join(cfg)
            if dist.is_main:
                print(f"run {root} stopped before its first checkpoint: starting it from epoch 1")
                _clear_partial_run(folder)
    run = build_run(cfg, model=model, model_args=model_args, progress=show_progress(cfg.train.progress), dist=dist)
    history = _train_run(run, root, resume=resume)
    print(format_summary(history, root=root, task=run.task))
    if dist.enabled:
        torch.distributed.destroy_process_group()
    return 0


def _join(cfg: Config) -> Distributed:
    """This process's place among torchrun's (one process without torchrun); only rank 0 prints."""
    from ltsnn.engine.distributed import from_environment

    dist = from_environment(cfg.train.device)
    if not dist.is_main:
        sys.stdout = open(os.devnull, "w")                     # errors still reach stderr
    return dist


def _restartable(folder: RunFolder, overrides: Sequence[str]) -> Config:
    """The config of a run that stopped before its first checkpoint (``--resume`` then starts it afresh)."""
    from ltsnn.config import load_config
    from ltsnn.engine import CheckpointError

    if not folder.root.is_dir():
        raise FileNotFoundError(f"{folder.root}: no such folder; expected a run folder written by `ltsnn train`")
    if not folder.config.is_file():
        raise CheckpointError(f"{folder.last}: no such file, and no {folder.config.name} to start the run from; "
                              f"expected a run folder written by `ltsnn train`")
    return load_config(folder.config, overrides)


def _cmd_eval(args: argparse.Namespace) -> int:
    from ltsnn.engine import RunFolder, evaluate, layer_thresholds

    path = Path(args.checkpoint)
    ckpt_path = RunFolder(path).last if path.is_dir() else path
    cfg, ckpt, task, loader = _restore_for_test(ckpt_path, args.overrides, command="eval")
    result = evaluate(task, loader, device=cfg.train.device, progress=show_progress(cfg.train.progress))
    print(f"{ckpt_path} (epoch {ckpt['epoch']}): {cfg.data.name} test set, {result['n']} samples, "
          f"T={cfg.data.n_time_bins}: loss {result['loss']:.4f}, {task.describe(result)}")
    thresholds, fixed = layer_thresholds(task.model)
    print(f"{'layer':<24} {'threshold':>9}  {'':<7}  firing rate")
    for name, v in thresholds.items():
        rate = result["firing_rates"].get(name, float("nan"))
        print(f"{name:<24} {v:>9.4f}  {'fixed' if name in fixed else 'learned':<7}  {rate:.4f}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ltsnn.engine import RunFolder
    from ltsnn.engine.metrics import read_history
    from ltsnn.engine.report import write_report

    folder = RunFolder(args.run_dir)
    if not folder.root.is_dir():
        raise FileNotFoundError(f"{folder.root}: no such folder; expected a run folder written by `ltsnn train`")
    history = read_history(folder)
    ckpt_path = folder.last if args.checkpoint == "last" else folder.best
    cfg, ckpt, task, loader = _restore_for_test(ckpt_path, args.overrides, command="report")
    report = write_report(folder.report, task=task, loader=loader, history=history,
                          source=f"{ckpt_path} (epoch {ckpt['epoch']})", e_mac=args.e_mac, e_ac=args.e_ac,
                          first_layer=args.first_layer, device=cfg.train.device,
                          progress=show_progress(cfg.train.progress))
    _write_examples(cfg, task, loader.dataset, folder)
    print(_report_line(report, folder, task))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from ltsnn.data import datasets as data_registry
    from ltsnn.models import list_models
    from ltsnn.neurons import NEURONS

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
    from ltsnn.build import build_dataset, build_run, model_args_for, model_from_args
    from ltsnn.config import config_to_dict, load_config
    from ltsnn.engine import RunFolder
    from ltsnn.engine.metrics import best_record, format_summary
    from ltsnn.files import write_text_atomic

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
    progress = show_progress(cfg.train.progress)
    splits = ("train", "val", "test") if cfg.data.val_fraction > 0 else ("train", "test")
    datasets = tuple(build_dataset(cfg.data, split=split, progress=progress) for split in splits)
    for mode in modes:                                          # a bad mode fails now, not after hours
        model_from_args(model_args_for(dataclasses.replace(cfg.model, threshold_grad=mode), datasets[0]))
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
                restored = _resumable(folder, [], expected=run_cfg)
                run = build_run(run_cfg, model=restored.model, model_args=restored.checkpoint["model_args"],
                                datasets=datasets)
                history = _train_run(run, folder.root, resume=restored.checkpoint)
            else:
                run = build_run(run_cfg, datasets=datasets)
                history = _train_run(run, folder.root, resume=None)
            print(format_summary(history, root=folder.root, task=run.task))
            last, best = history[-1], best_record(history) or history[-1]     # best.pt: chosen on validation
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


# ---------------------------------------------------------------------------------------------- running

def _train_run(run: Run, root: Path, *, resume: dict[str, Any] | None) -> list[Record]:
    """Save the resolved config into the run folder, train (or continue) the run, then write its report."""
    from ltsnn.build import is_detection
    from ltsnn.config import save_config
    from ltsnn.engine import RunFolder, test_loader
    from ltsnn.engine.report import write_report

    cfg, model, data = run.config, run.model, run.data
    folder = RunFolder(root)
    if data.dist.is_main:
        folder.root.mkdir(parents=True, exist_ok=True)
        save_config(cfg, folder.config)
    n_params = sum(p.numel() for p in model.parameters())
    start = f", resuming after epoch {resume['epoch']}" if resume is not None else ""
    quant = run.model_args.get("quant")
    weights = f", {quant['bits']}-bit SAWB weights ({quant['coeff']})" if quant else ""
    loss = f"yolo ({cfg.detection.cls_loss})" if is_detection(data.train) else cfg.loss.preset
    print(f"run {root}: {cfg.model.name} ({n_params:,} parameters{weights}, threshold_grad={cfg.model.threshold_grad}) "
          f"on {cfg.data.name} ({len(data.train)} train / {len(data.val) if data.val is not None else 0} validation / "
          f"{len(data.test)} test, T={cfg.data.n_time_bins}), "
          f"loss {loss}, {cfg.train.epochs} epochs{start}")
    progress = show_progress(cfg.train.progress)
    history = run.fit(run_dir=root, resume=resume, progress=progress)
    if not data.dist.is_main:                                   # rank 0 alone reports, on the whole test set
        return history
    # The model now holds the weights of the last epoch, which is what checkpoints/last.pt holds.
    loader = test_loader(data.test, batch_size=data.batch_size, num_workers=data.num_workers)
    report = write_report(folder.report, task=run.task, loader=loader, history=history,
                          source=f"{folder.last} (epoch {history[-1]['epoch']})", device=run.device,
                          progress=progress)
    _write_examples(cfg, run.task, data.test, folder)
    print(_report_line(report, folder, run.task))
    return history


def _restore_for_test(ckpt_path: Path, overrides: Sequence[str], *, command: str):
    """The config, checkpoint, task (the checkpoint's model, the run's loss and task state) and test batches
    of a checkpoint, with the test-data overrides :data:`~ltsnn.build.EVAL_KEYS` applied."""
    from ltsnn.build import EVAL_KEYS, build_dataset, build_task, restore
    from ltsnn.engine import test_loader

    restored = restore(ckpt_path, overrides_only(overrides, command=command), allowed=EVAL_KEYS,
                       why=f"{command} rebuilds the model from the checkpoint")
    cfg, ckpt = restored.config, restored.checkpoint
    test_set = build_dataset(cfg.data, split="test", progress=show_progress(cfg.train.progress))
    task = build_task(cfg, restored.model.to(cfg.train.device), test_set)
    task.load_state_dict(ckpt["task"])
    loader = test_loader(test_set, batch_size=cfg.data.batch_size, num_workers=cfg.data.num_workers)
    return cfg, ckpt, task, loader


def _report_line(report: dict[str, Any], folder: RunFolder, task) -> str:
    from ltsnn.engine.report import energy_summary, size_summary

    return (f"report {folder.report / 'report.md'}: test {task.describe(report['test'])}; {energy_summary(report)}; "
            f"{size_summary(report['size'])}")


def _resumable(folder: RunFolder, overrides: Sequence[str], *, expected: Config | None = None):
    """The restored checkpoint to continue ``folder`` with; only :data:`~ltsnn.build.RESUME_KEYS` may differ from
    the stored config (from ``overrides``, or from ``expected`` for an ablation's sub-run)."""
    from ltsnn.build import RESUME_KEYS, restore
    from ltsnn.config import ConfigError

    restored = restore(folder.last, overrides, allowed=RESUME_KEYS, expected=expected,
                       why=f"resuming {folder.root} must not change the run")
    epoch, epochs = restored.checkpoint["epoch"], restored.config.train.epochs
    if epoch > epochs:
        raise ConfigError(f"{folder.last} is at epoch {epoch}; train.epochs={epochs} would end "
                          f"before it (expected train.epochs >= {epoch})")
    return restored


def _new_run_folder(cfg: Config) -> Path:
    from ltsnn.config import ConfigError
    from ltsnn.engine import RunFolder

    out = Path(cfg.train.out_dir)
    for parent in (out, *out.parents):
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"train.out_dir={cfg.train.out_dir}: {parent} is a file; expected a folder for the runs")
    if cfg.train.name:
        folder = RunFolder(out / cfg.train.name)
        root = folder.root
        if root.exists() and not root.is_dir():
            raise ConfigError(f"train.name={cfg.train.name}: {root} is a file; expected a run folder name")
        if folder.last.is_file():
            raise ConfigError(f"run folder {root} already exists; continue it with `ltsnn train --resume {root}` "
                              f"or set another train.name")
        if root.exists() and any(root.iterdir()):
            print(f"run folder {root} has no checkpoint (its run stopped before the first one): starting it afresh")
            _clear_partial_run(folder)
        return root
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root, i = out / stamp, 1
    while root.exists():                                        # two runs started in the same second
        i += 1
        root = out / f"{stamp}-{i}"
    return root


def _clear_partial_run(folder: RunFolder) -> None:
    """Delete what a run that died before its first checkpoint left (only the files ltsnn writes there), so the
    new run's metrics do not continue the dead one's."""
    for path in (folder.metrics, folder.thresholds):
        path.unlink(missing_ok=True)
    for sub in (folder.plots, folder.report, folder.checkpoints):
        if sub.is_dir():
            shutil.rmtree(sub)


def _write_examples(cfg: Config, task, test_set, folder: RunFolder) -> None:
    """A detection run's ``report/examples.png``: test frames with predicted and true boxes."""
    from ltsnn.tasks.detection import DetectionTask

    if isinstance(task, DetectionTask) and cfg.detection.examples:
        from ltsnn.tasks.detection.plots import write_examples  # matplotlib: imported only when plotting
        path = write_examples(task, test_set, folder.report / "examples.png", count=cfg.detection.examples,
                              device=cfg.train.device)
        print(f"examples: {path}")


# ---------------------------------------------------------------------------------------------- ablation tables

def _mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value: it has no spread to estimate)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


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
             f"mean ± sample std over seeds, of the last epoch (final) and of best.pt, the epoch chosen on the "
             f"validation split (the last epoch without one); thresholds: mean over seeds after the last epoch.", "",
             "| mode | runs | final acc | best.pt acc | " + " | ".join(layers) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(layers)]
    for mode, s in summary.items():
        cells = [f"{s['thresholds_mean'][n]:.3f}{' (fixed)' if n in s['fixed_layers'] else ''}" for n in layers]
        lines.append(f"| {mode} | {s['runs']} | {_mean_pm_std(s['final_acc_mean'], s['final_acc_std'])} | "
                     f"{_mean_pm_std(s['best_acc_mean'], s['best_acc_std'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean_pm_std(mean: float, std: float | None) -> str:
    """An accuracy in %: "mean ± std", or "mean (n = 1, no interval)" for one seed rather than a false ± 0.00."""
    return f"{100 * mean:.2f} ± {100 * std:.2f}" if std is not None else f"{100 * mean:.2f} (n = 1, no interval)"
