"""``ltsnn prune``: lottery-ticket pruning of a trained run, IMP with rewinding (docs/pruning.md).

    ltsnn prune RUN_DIR --rounds R --rate P [--criterion magnitude|sf] [--rewind init|epoch:K|none] [--epochs E]
                [--scope global|local] [--count-rule floor|ceil_plus_one] [--include kim|no_classifier]
                [--rewind-bn-stats] [--sf-mix global_mixed|magnitude_budget|local] [--sf-signed]
                [--sf-ties magnitude|keep] [--sf-batches N] [key=value ...]

Round r takes the model trained in round r − 1 (round 1: the run's ``last.pt``), removes P of its alive weights
by the criterion, rewinds the survivors to the snapshot in ``RUN_DIR/prune/rewind.pt`` and retrains with the
run's config into the run folder ``RUN_DIR/prune/round_<r>/`` (a fresh optimizer, the schedule restarted
over E epochs: ``prune.rewind_lr=restart``). ``RUN_DIR/prune.csv`` and ``prune.json`` tabulate each round's
sparsity and the accuracy of its checkpoint chosen on validation. Running the command again continues an
interrupted pruning (the same options only).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ltsnn.cli.common import UsageError, overrides_only, show_progress
from ltsnn.cli.runs import _clear_partial_run, _train_run
from ltsnn.files import write_atomic, write_text_atomic

# The library (torch and all) is imported inside the commands, so that `ltsnn prune --help` starts at once.
if TYPE_CHECKING:
    import torch

    from ltsnn.config import Config
    from ltsnn.engine.metrics import Record

CRITERIA = ("magnitude", "sf")                          # sf: BICLab's spiking-firing criterion (SF-IMP-1)
REWIND_FORMAT = "ltsnn-rewind"
# The run's keys pruning may change: where and how it runs, not what it computes (ltsnn.build's RESUME_KEYS but
# train.epochs, which is --epochs). It and ltsnn.engine.prune's SCOPES, COUNT_RULES, INCLUDES and SF_MIXES are
# spelled out for the parser; tests/test_cli_help.py checks they are the library's.
PRUNE_KEYS = ("train.checkpoint_every", "train.progress", "train.device", "data.root", "data.num_workers", "data.cache",
              "data.cache_dir", "train.neuron_backend", "train.on_divergence", "train.divergence_factor", "train.log")
SCOPES, COUNT_RULES, INCLUDES = ("global", "local"), ("floor", "ceil_plus_one"), ("kim", "no_classifier")
SF_MIXES = ("global_mixed", "magnitude_budget", "local")
CSV_COLUMNS = ("round", "sparsity", "alive_weights", "prunable_weights", "epoch", "checkpoint", "val_acc",
               "test_acc", "final_test_acc")


def add_commands(sub) -> None:
    """Register ``prune`` on the ``ltsnn`` sub-parser ``sub``."""
    p = sub.add_parser("prune", help="lottery-ticket pruning of a trained run: prune, rewind, retrain, R rounds",
                       description="Iterative pruning with rewinding (docs/pruning.md); writes RUN_DIR/prune/round_<r>/ "
                                   "and RUN_DIR/prune.csv, prune.json.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("overrides", nargs="*", metavar="key=value", help=f"one of {', '.join(PRUNE_KEYS)}")
    p.add_argument("--rounds", type=int, required=True, help="pruning rounds R (each prunes, rewinds, retrains)")
    p.add_argument("--rate", type=float, required=True, help="fraction P of the alive weights removed per round")
    p.add_argument("--criterion", choices=CRITERIA, default="magnitude", help="what ranks the weights (default: %(default)s)")
    p.add_argument("--rewind", default="epoch:20", metavar="init|epoch:K|none",
                   help="where the survivors go back to: the initial weights, those after epoch K of the run "
                        "(replayed), or none (fine-tune the trained weights) (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=0, metavar="E",
                   help="epochs per round (default: the run's train.epochs minus the rewind epoch)")
    p.add_argument("--scope", choices=SCOPES, default="global", help="rank over all layers or per layer (default: %(default)s)")
    p.add_argument("--count-rule", choices=COUNT_RULES, default="floor",
                   help="floor(n·P) removed (Kim) or ceil(n·P)+1 (open_lth) (default: %(default)s)")
    p.add_argument("--include", choices=INCLUDES, default="kim",
                   help="prunable weights: every conv and linear (kim) or all but the classifier (default: %(default)s)")
    p.add_argument("--rewind-bn-stats", action="store_true",
                   help="rewind the BatchNorm running statistics too (open_lth; Kim's code does not)")
    p.add_argument("--sf-mix", choices=SF_MIXES, default="global_mixed",
                   help="sf: how SF scores and the magnitudes of the other layers are ranked (default: %(default)s)")
    p.add_argument("--sf-signed", action="store_true", help="sf: the signed score of Eq. S.38 (sf.abs=false)")
    p.add_argument("--sf-ties", choices=("magnitude", "keep"), default="magnitude",
                   help="sf: rank equal scores (the 0 of silent channels) by |w| and remove exactly floor(n·P), or "
                        "keep every weight tied at the threshold as Kim's rule does (default: %(default)s)")
    p.add_argument("--sf-batches", type=int, default=0, metavar="N",
                   help="sf: training batches the statistics are collected on, 0 for all (default: %(default)s)")
    p.set_defaults(run=_cmd_prune)


def parse_rewind(text: str) -> tuple[str, int]:
    """``init`` -> ("init", 0), ``epoch:K`` -> ("epoch", K), ``none`` -> ("none", 0)."""
    kind, _, k = text.partition(":")
    if text in ("init", "none"):
        return text, 0
    if kind == "epoch" and k.isdigit() and int(k) > 0:
        return "epoch", int(k)
    raise UsageError(f"prune --rewind={text!r}: expected init, none or epoch:K with K a positive epoch number")


def _cmd_prune(args: argparse.Namespace) -> int:
    from ltsnn.build import RESUME_KEYS, build_dataset, build_run, build_task, restore
    from ltsnn.engine import RunFolder
    from ltsnn.engine.prune import check_rate, magnitude_scores, prunable_layers, prune_model, rewind, sparsity
    from ltsnn.layers.prune import add_masks, masked_layers

    folder = RunFolder(args.run_dir)
    restored = restore(folder.last, overrides_only(args.overrides, command="prune"), allowed=PRUNE_KEYS,
                       why="pruning retrains with the run's config")
    cfg, ckpt = restored.config, restored.checkpoint
    rewind_kind, rewind_epoch = parse_rewind(args.rewind)
    epochs = args.epochs or cfg.train.epochs - rewind_epoch
    check_rate(args.rate)
    if rewind_epoch > ckpt["epoch"]:
        raise UsageError(f"prune --rewind=epoch:{rewind_epoch}: the run trained {ckpt['epoch']} epochs")
    if args.rounds < 1 or epochs < 1:
        raise UsageError(f"prune: expected --rounds >= 1 and --epochs >= 1, got {args.rounds} and {epochs}")
    if args.sf_batches < 0:
        raise UsageError(f"prune --sf-batches={args.sf_batches}: expected a number of batches, 0 for all")
    if args.criterion == "sf" and args.scope != "global":
        raise UsageError("prune --criterion sf: the ranking is --sf-mix (local for per layer), expected no --scope")
    if masked_layers(restored.model):
        raise UsageError(f"prune: {folder.root} is already pruned; prune its run folder instead")
    options = {"criterion": args.criterion, "rate": args.rate, "rewind": args.rewind, "epochs": epochs,
               "scope": args.scope, "count_rule": args.count_rule, "include": args.include,
               "rewind_bn_stats": args.rewind_bn_stats, "rewind_lr": "restart", "rewind_biases": "every_round"}
    if args.criterion == "sf":
        options.update({"sf_mix": args.sf_mix, "sf_abs": not args.sf_signed, "sf_batches": args.sf_batches or "all",
                        "sf_ties": args.sf_ties,
                        "sf_membrane": "input_current", "sf_bn_var": "running", "sf_stat_split": "train"})
    prune_dir = folder.root / "prune"
    _check_options(prune_dir / "options.json", options)
    progress = show_progress(cfg.train.progress)
    splits = ("train", "val", "test") if cfg.data.val_fraction > 0 else ("train", "test")
    datasets = tuple(build_dataset(cfg.data, split=split, progress=progress) for split in splits)
    snapshot = _rewind_snapshot(cfg, rewind_kind, rewind_epoch, prune_dir, datasets, ckpt["history"])
    metric = build_task(cfg, restored.model, datasets[0]).metric
    model, model_args = restored.model, dict(ckpt["model_args"])
    rows = [_row(0, model, ckpt["history"], metric)]
    for r in range(1, args.rounds + 1):
        round_cfg = dataclasses.replace(cfg, train=dataclasses.replace(
            cfg.train, epochs=epochs, out_dir=str(prune_dir), name=f"round_{r}", init_from=""))
        round_folder = RunFolder(prune_dir / f"round_{r}")
        if round_folder.last.is_file():                         # an interrupted pruning: finish or reuse the round
            done = restore(round_folder.last, allowed=RESUME_KEYS, expected=round_cfg,      # or train it longer
                           why=f"continuing {round_folder.root} must not change it")
            model, model_args, history = done.model, done.checkpoint["model_args"], done.checkpoint["history"]
            if done.checkpoint["epoch"] < epochs:
                run = build_run(round_cfg, model=model, model_args=model_args, datasets=datasets)
                history = _train_run(run, round_folder.root, resume=done.checkpoint)
        else:
            if not masked_layers(model):
                names = prunable_layers(model, include=args.include)
                add_masks(model, names)
                model_args["prune"] = {"layers": names}
            if args.criterion == "sf":
                _prune_by_firing(model, cfg, datasets, args)
            else:
                prune_model(model, magnitude_scores(model), rate=args.rate, scope=args.scope,
                            count_rule=args.count_rule)
            if snapshot is not None:
                rewind(model, snapshot, bn_stats=args.rewind_bn_stats)
            _clear_partial_run(round_folder)
            print(f"== prune round {r}/{args.rounds}: sparsity {100 * sparsity(model)['total']:.2f} % of the "
                  f"prunable weights, rewound to {args.rewind}, {epochs} epochs ==")
            run = build_run(round_cfg, model=model, model_args=model_args, datasets=datasets)
            history = _train_run(run, round_folder.root, resume=None)
        rows.append(_row(r, model, history, metric))
    _write_table(folder.root, rows, options, cfg)
    print(_format_rows(rows))
    print(f"written: {folder.root / 'prune.csv'}, {folder.root / 'prune.json'}")
    return 0


def _prune_by_firing(model: torch.nn.Module, cfg: Config, datasets: tuple, args: argparse.Namespace) -> None:
    """One SF-IMP-1 pruning step: the statistics on the training split without augmentation (method §3.3, the
    trained model in eval mode), SF scores for the conv→BN→neuron layers and |w| elsewhere, ranked by --sf-mix."""
    from ltsnn.build import build_dataset
    from ltsnn.engine import test_loader
    from ltsnn.engine.prune import firing_statistics, magnitude_scores, prune_model, sf_layer_map, sf_model_scores

    stat_set = build_dataset(dataclasses.replace(cfg.data, augment={}), split="train") if cfg.data.augment \
        else datasets[0]
    device = next(model.parameters()).device
    loader = test_loader(stat_set, batch_size=cfg.data.batch_size, num_workers=cfg.data.num_workers)
    batches = (frames.transpose(0, 1).to(device)               # [B, T, C, H, W] -> [T, B, C, H, W], streamed
               for frames, _ in itertools.islice(loader, args.sf_batches or None))
    layers = sf_layer_map(model, next(iter(loader))[0].transpose(0, 1).to(device))
    stats = firing_statistics(model, batches, layers)
    scores = sf_model_scores(model, layers, stats, absolute=not args.sf_signed)
    print(f"prune sf: spiking-firing score in {len(layers)} layer(s) ({', '.join(layers) or 'none'}), magnitude in "
          f"{', '.join(n for n in scores if n not in layers) or 'none'}")
    magnitudes = magnitude_scores(model)
    if args.sf_mix == "magnitude_budget":
        prune_model(model, scores, rate=args.rate, count_rule=args.count_rule, magnitudes=magnitudes)
    else:
        prune_model(model, scores, rate=args.rate, count_rule=args.count_rule,
                    scope="local" if args.sf_mix == "local" else "global",
                    tie_break=magnitudes if args.sf_ties == "magnitude" else None)


def _check_options(path: Path, options: dict[str, Any]) -> None:
    """Record the options of a pruning in ``prune/options.json``; a later call must use the same ones (it
    continues that pruning, maybe with more rounds)."""
    if path.is_file():
        before = json.loads(path.read_text())
        if before != options:
            differ = ", ".join(f"{k} {before.get(k)!r} -> {v!r}" for k, v in options.items() if before.get(k) != v)
            raise UsageError(f"{path.parent} holds a pruning with other options ({differ}); move it away to start "
                             f"another")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(options, indent=2) + "\n")


def _rewind_snapshot(cfg: Config, kind: str, epoch: int, prune_dir: Path, datasets: tuple,
                     dense_history: Sequence[Record]) -> dict[str, torch.Tensor] | None:
    """The state the survivors are rewound to, kept in ``prune/rewind.pt`` (None for ``--rewind none``).

    ``init``: the run's initial weights, rebuilt from its seed exactly as ``ltsnn train`` built them (or
    ``train.init_from``'s). ``epoch:K``: the run replayed for K epochs of its own schedule into
    ``prune/rewind_epoch_K/`` (training on the CPU is deterministic, so this is the state the run had after
    epoch K; a replay whose losses differ from the run's is reported).
    """
    import torch

    from ltsnn.build import build_run, initial_model
    from ltsnn.config import save_config
    from ltsnn.engine import RunFolder

    if kind == "none":
        return None
    path = prune_dir / "rewind.pt"
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)["model"]
    model = model_args = None
    if cfg.train.init_from:
        cfg, model, model_args = initial_model(cfg)
    run = build_run(cfg, model=model, model_args=model_args, datasets=datasets)
    if kind == "epoch":
        replay = prune_dir / f"rewind_epoch_{epoch}"
        replay.mkdir(parents=True, exist_ok=True)
        save_config(cfg, RunFolder(replay).config)
        print(f"== prune: replaying {epoch} epoch(s) of the run for the rewind point, into {replay} ==")
        history = run.fit(run_dir=replay, stop_after=epoch, progress=show_progress(cfg.train.progress))
        differ = [r["epoch"] for r, d in zip(history, dense_history) if r["train_loss"] != d["train_loss"]]
        if differ:
            print(f"warning: the replay's training loss differs from the run's at epoch(s) {differ} (not "
                  f"deterministic on this device?); rewinding to the replayed state")
    state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
    write_atomic(path, lambda f: torch.save({"format": REWIND_FORMAT, "rewind": f"{kind}:{epoch}", "model": state}, f))
    return state


def _row(r: int, model: torch.nn.Module, history: Sequence[Record], metric: str) -> dict[str, Any]:
    """One line of the table: the round's sparsity and its checkpoint chosen on validation (best.pt; the last
    epoch without a validation split)."""
    from ltsnn.engine.metrics import best_record
    from ltsnn.engine.prune import sparsity
    from ltsnn.layers.prune import masked_layers

    best = best_record(history, metric=metric)
    chosen = best or history[-1]
    masks = masked_layers(model)
    total = sum(m.mask.numel() for m in masks.values())
    alive = sum(int(m.mask.sum()) for m in masks.values())
    return {"round": r, "sparsity": sparsity(model)["total"], "alive_weights": alive if masks else None,
            "prunable_weights": total if masks else None, "epoch": chosen["epoch"],
            "checkpoint": "best" if best is not None else "last", "val_acc": chosen.get(f"val_{metric}"),
            "test_acc": chosen[f"test_{metric}"], "final_test_acc": history[-1][f"test_{metric}"],
            "layer_sparsity": {k: v for k, v in sparsity(model).items() if k != "total"}}


def _write_table(root: Path, rows: Sequence[dict[str, Any]], options: dict[str, Any], cfg: Config) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(root / "prune.csv", buffer.getvalue())
    write_text_atomic(root / "prune.json", json.dumps(
        {"options": options, "model": cfg.model.name, "data": cfg.data.name, "rounds": list(rows)}, indent=2) + "\n")


def _format_rows(rows: Sequence[dict[str, Any]]) -> str:
    lines = [f"{'round':>5} {'sparsity':>9} {'epoch':>5} {'val':>7} {'test':>7}"]
    for row in rows:
        val = f"{100 * row['val_acc']:.2f}" if row["val_acc"] is not None else "-"
        lines.append(f"{row['round']:>5} {100 * row['sparsity']:>8.2f}% {row['epoch']:>5} {val:>7} "
                     f"{100 * row['test_acc']:>7.2f}")
    return "\n".join(lines)
