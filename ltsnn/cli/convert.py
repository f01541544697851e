"""``ltsnn convert``: a trained QCFS ANN -> spiking networks (IF or LM-HT), or a trained LM-HT network -> its
binary reparameterisation; each evaluated and saved as a run folder.

    ltsnn convert RUN_DIR_OR_CHECKPOINT --to if --steps 2,4,8,16
    ltsnn convert RUN_DIR --to lmht --levels 2 --steps 2          # then: ltsnn train ... train.init_from=...
    ltsnn convert LMHT_RUN_DIR --to binary                        # L·T binary steps (methods §2.6)

``ltsnn export``: a trained run's model as a NIR graph (docs/nir.md), for other simulators and hardware.

    ltsnn export RUN_DIR_OR_CHECKPOINT --to nir [--out FILE.nir] [--dt 1e-4]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ltsnn.cli.common import UsageError, csv_values, overrides_only, show_progress
from ltsnn.cli.runs import EVAL_KEYS_TEXT
from ltsnn.files import atomic_path, write_text_atomic

# The library (torch and all) is imported inside the commands, so that `ltsnn convert --help` starts at once.
# ltsnn.convert.qcfs's CONVERT_TARGETS and ltsnn.convert.nir's DEFAULT_DT, spelled out for the parser;
# tests/test_cli_help.py checks they are the same.
CONVERT_TARGETS, DEFAULT_DT = ("if", "lmht"), 1e-4


def add_commands(sub) -> None:
    """Register ``convert`` and ``export`` on the ``ltsnn`` sub-parser ``sub``."""
    c = sub.add_parser("convert", help="QCFS ANN -> IF or LM-HT networks; LM-HT -> binary; each evaluated",
                       description="Replace every QCFS activation of a trained ANN by an IF neuron (θ = λ, v(0) = θ/2) "
                                   "or an LM-HT neuron (θ = λ, v(0) = θ/2, ω = 1/T, leak 1, first-layer input ×L), "
                                   "test each converted network, and save it as a run folder that `ltsnn eval` reads "
                                   "and `ltsnn train ... train.init_from=FOLDER/checkpoints/last.pt` fine-tunes. "
                                   "--to binary turns a trained LM-HT network into binary IF neurons over L·T steps.")
    c.add_argument("checkpoint", metavar="RUN_DIR_OR_CHECKPOINT",
                   help="a QCFS ANN run (model.neuron=qcfs), or an LM-HT run for --to binary")
    c.add_argument("overrides", nargs="*", metavar="key=value", help=EVAL_KEYS_TEXT)
    c.add_argument("--to", choices=(*CONVERT_TARGETS, "binary"), required=True, help="the spiking neuron")
    c.add_argument("--steps", default="4", help="comma-separated time steps T, one network each (default: %(default)s)")
    c.add_argument("--levels", type=int, default=2, help="L, the LM-HT levels (default: %(default)s)")
    c.add_argument("--checkpoint", dest="which", choices=("last", "best"), default="last",
                   help="which checkpoint of a run folder to convert (default: %(default)s)")
    c.add_argument("--out", metavar="DIR", help="parent folder of the converted runs (default: RUN_DIR/converted)")
    c.set_defaults(run=_cmd_convert)

    x = sub.add_parser("export", help="write a trained model as a NIR graph for other simulators (docs/nir.md)",
                       description="Write the model of a run folder or checkpoint as a NIR graph (.nir, HDF5): "
                                   "BN folded into the conv and linear layers, each LIF's learned threshold as its "
                                   "v_threshold, its leak as tau = dt / (1 - decay). Models with neurons NIR cannot "
                                   "express (LM-HT, I-LIF, a soft reset) are refused with the reason.")
    x.add_argument("checkpoint", metavar="RUN_DIR_OR_CHECKPOINT")
    x.add_argument("--to", choices=("nir",), required=True, help="the format")
    x.add_argument("--checkpoint", dest="which", choices=("last", "best"), default="last",
                   help="which checkpoint of a run folder to export (default: %(default)s)")
    x.add_argument("--out", metavar="FILE", help="the graph file (default: RUN_DIR/export/model.nir)")
    x.add_argument("--dt", type=float, default=DEFAULT_DT,
                   help="the simulation step the neurons' time constants are written for (default: %(default)s, "
                        "snnTorch's)")
    x.set_defaults(run=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from ltsnn.build import restore
    from ltsnn.convert.nir import to_nir
    from ltsnn.engine import RunFolder

    path = Path(args.checkpoint)
    folder = RunFolder(path) if path.is_dir() else None
    ckpt_path = (folder.last if args.which == "last" else folder.best) if folder else path
    try:
        import nir
    except ImportError:
        raise UsageError("export --to nir needs the optional package 'nir': pip install 'ltsnn[nir]'") from None
    restored = restore(ckpt_path, allowed=(), why="export writes the checkpoint's model as it is")
    graph = to_nir(restored.model, dt=args.dt)
    out = Path(args.out) if args.out else (folder.root if folder else ckpt_path.parent) / "export" / "model.nir"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        nir.write(tmp, graph)
    kinds = [type(node).__name__ for node in graph.nodes.values()]
    print(f"{ckpt_path} (epoch {restored.checkpoint['epoch']}): {restored.config.model.name} -> {out} "
          f"({len(kinds) - 2} NIR nodes: {', '.join(kinds[1:-1])}; dt = {args.dt:g})")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    import torch

    from ltsnn.build import EVAL_KEYS, build_dataset, build_task, model_from_args, restore
    from ltsnn.config import config_to_dict, save_config
    from ltsnn.convert.qcfs import converted_model_args, load_qcfs_into_snn
    from ltsnn.convert.reparam import binary_levels, binary_model_args, spread_constants
    from ltsnn.engine import RunFolder, evaluate, save_checkpoint, test_loader
    from ltsnn.engine.checkpoint import rng_state

    path = Path(args.checkpoint)
    folder = RunFolder(path) if path.is_dir() else None
    ckpt_path = (folder.last if args.which == "last" else folder.best) if folder else path
    steps_list = csv_values(args.steps, "--steps", int)
    restored = restore(ckpt_path, overrides_only(args.overrides, command="convert"), allowed=EVAL_KEYS,
                       why="convert keeps the ANN's model and data")
    cfg, ckpt, source = restored.config, restored.checkpoint, restored.model
    progress = show_progress(cfg.train.progress)
    test_set = build_dataset(cfg.data, split="test", progress=progress)
    loader = test_loader(test_set, batch_size=cfg.data.batch_size, num_workers=cfg.data.num_workers)
    out = Path(args.out) if args.out else (folder.root if folder else ckpt_path.parent) / "converted"

    def task_of(model: torch.nn.Module):
        task = build_task(cfg, model.to(cfg.train.device), test_set)
        task.load_state_dict(ckpt["task"])
        return task

    def test(model: torch.nn.Module) -> dict:
        return evaluate(task_of(model), loader, device=cfg.train.device, progress=progress)

    def save(name: str, model: torch.nn.Module, model_args: dict, snn_cfg, summary: dict) -> None:
        run = RunFolder(out / name)
        run.checkpoints.mkdir(parents=True, exist_ok=True)
        save_config(snn_cfg, run.config)
        save_checkpoint(run.last, {"model": model.state_dict(), "model_args": model_args, "optimizer": {},
                                   "scheduler": {}, "epoch": 0, "step": 0, "task": dict(ckpt["task"]),
                                   "rng": rng_state(), "config": config_to_dict(snn_cfg), "history": []})
        write_text_atomic(run.root / "conversion.json", json.dumps(summary, indent=2) + "\n")
        print(f"  {name:<14} accuracy {100 * summary['test_acc']:6.2f}%  -> {run.last}")

    source_acc = test(source)["acc"]
    kind = "QCFS ANN" if args.to != "binary" else "LM-HT network"
    print(f"{ckpt_path} (epoch {ckpt['epoch']}): {kind} {cfg.model.name} on {cfg.data.name} test set "
          f"({len(test_set)} samples): accuracy {100 * source_acc:.2f}%")
    if args.to == "binary":
        model_args = binary_model_args(ckpt["model_args"])
        binary = model_from_args(model_args)
        binary.load_state_dict(ckpt["model"])
        levels = binary_levels(model_args)
        spread_constants(binary, levels=levels)
        result = test(binary)
        steps = model_args["kwargs"]["mean_repeat"]
        snn_cfg = dataclasses.replace(cfg, model=dataclasses.replace(
            cfg.model, neuron="lmht_binary", options=dict(cfg.model.options, mean_repeat=steps)))
        save(f"binary-L{levels}-T{steps // levels}", binary, model_args, snn_cfg,
             {"source": str(ckpt_path), "to": "binary", "steps": steps, "levels": levels, "source_acc": source_acc,
              "test_acc": result["acc"], "test_loss": result["loss"], "firing_rates": result["firing_rates"]})
        return 0
    ann = source
    for steps in steps_list:
        model_args = converted_model_args(ckpt["model_args"], to=args.to, steps=steps, levels=args.levels)
        snn = model_from_args(model_args)
        with torch.no_grad():
            thresholds = load_qcfs_into_snn(ann, snn, levels=args.levels if args.to == "lmht" else 1)
        result = test(snn)
        kw = model_args["kwargs"]
        snn_cfg = dataclasses.replace(cfg, model=dataclasses.replace(
            cfg.model, neuron=kw["neuron"]["name"], threshold_grad="fixed", neuron_options=dict(kw["neuron"]["options"]),
            options=dict(cfg.model.options, mean_repeat=steps)))
        name = f"{args.to}-L{args.levels}-T{steps}" if args.to == "lmht" else f"{args.to}-T{steps}"
        save(name, snn, model_args, snn_cfg,
             {"source": str(ckpt_path), "to": args.to, "steps": steps, "levels": args.levels if args.to == "lmht" else 1,
              "source_acc": source_acc, "test_acc": result["acc"], "test_loss": result["loss"],
              "thresholds": thresholds, "firing_rates": result["firing_rates"]})
    return 0
