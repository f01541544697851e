"""``ltsnn attack | certify``: the adversarial and the certified robustness of a trained run on its test set.

    ltsnn attack RUN_DIR [key=value ...] --eps 0,0.01,0.03 [--steps 10] [--norm linf|l2] [--eot 1] [--limit N]
                 [--transfer-from OTHER_RUN] [--name attack]
    ltsnn certify RUN_DIR [key=value ...] --sigma 0.25 [--n 1000] [--n0 100] [--alpha 0.001] [--noise gaussian]

Both restore the run's best checkpoint (else its last), take the test split of the stored config (the data
keys of ``ltsnn eval`` may change) and write their table (.csv, .json) and plot (.png) into the run folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

from ltsnn.cli.common import UsageError, csv_values, overrides_only
from ltsnn.cli.runs import EVAL_KEYS_TEXT
from ltsnn.files import atomic_path, write_text_atomic

# The library (torch and all) is imported inside the commands, so that `ltsnn attack --help` starts at once.
# ltsnn.robust's NORMS and NOISES and the names of ltsnn.functional.surrogate's SURROGATES (sorted), spelled out
# for the parser; tests/test_cli_help.py checks they are the same.
NORMS, NOISES, SURROGATE_NAMES = ("linf", "l2"), ("gaussian", "encoder"), ("atan", "rectangle", "sigmoid", "triangle")


def add_commands(sub) -> None:
    """Register attack and certify on the ``ltsnn`` sub-parser ``sub``."""
    a = sub.add_parser("attack", help="accuracy under FGSM / PGD attacks; writes attack.csv/.json/.png",
                       description="White-box PGD (FGSM with --steps 1) through the surrogate gradient over T, with "
                                   "Expectation over Transformation for stochastic encoders, on the test split.")
    _common(a)
    a.add_argument("--eps", default="0,0.01,0.02,0.03,0.05,0.1", help="comma-separated radii (default: %(default)s)")
    a.add_argument("--steps", type=int, default=10, help="PGD steps; 1: FGSM (default: %(default)s)")
    a.add_argument("--norm", choices=NORMS, default="linf", help="(default: %(default)s)")
    a.add_argument("--eot", type=int, default=None, metavar="N",
                   help="gradients averaged over N encoder draws (default: 8 for a stochastic encoder, else 1; "
                        "with --transfer-from, the source run's default, whatever N is)")
    a.add_argument("--random-start", action="store_true", help="start PGD at a uniform point of the ball")
    a.add_argument("--surrogate", choices=("own", *SURROGATE_NAMES), default="atan",
                   help="surrogate gradient the attack differentiates through; 'own': the model's (default: "
                        "%(default)s: full support, no masking by a triangle's flat tails)")
    a.add_argument("--transfer-from", metavar="OTHER_RUN", default=None,
                   help="a black-box transfer attack: craft the perturbations on OTHER_RUN's model (same data set; "
                        "its best checkpoint, its own encoder and T) and score them on RUN_DIR's")
    a.add_argument("--name", default="attack",
                   help="stem of the files written into the run folder (default: %(default)s)")
    a.set_defaults(run=_cmd_attack)

    c = sub.add_parser("certify", help="certified L2 accuracy by randomized smoothing; writes certify.csv/.json/.png",
                       description="Cohen et al.'s CERTIFY on each test image: n0 selection and n estimation draws, "
                                   "a one-sided Clopper-Pearson bound at level alpha, radius sigma * inv_Phi(p_A).")
    _common(c)
    c.add_argument("--sigma", type=float, default=None,
                   help="noise std on [0, 1] images (default: 0.25; with --noise encoder: the encoder's sigma)")
    c.add_argument("--n", type=int, default=1000, help="estimation draws per image (default: %(default)s)")
    c.add_argument("--n0", type=int, default=100, help="selection draws per image (default: %(default)s)")
    c.add_argument("--alpha", type=float, default=0.001, help="failure probability (default: %(default)s)")
    c.add_argument("--noise", choices=NOISES, default="gaussian",
                   help="gaussian: N(0, sigma^2) added to the image; encoder: the model's RSC encoder's own "
                        "randomness (default: %(default)s)")
    c.add_argument("--radii", default="0,0.25,0.5,0.75,1.0", help="radii of the table (default: %(default)s)")
    c.add_argument("--batch", type=int, default=100, help="noisy copies per forward (default: %(default)s)")
    c.set_defaults(run=_cmd_certify)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("overrides", nargs="*", metavar="key=value", help=EVAL_KEYS_TEXT)
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="which checkpoint (default: %(default)s; last when the run has no best.pt)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="the first N test samples only (0: all)")


def _restore(args: argparse.Namespace, command: str):
    """The config, restored model (eval mode, on its device), checkpoint path, run folder, (limited) test split
    and its number of classes."""
    from torch.utils.data import Subset

    from ltsnn.build import build_dataset

    folder, path, restored = _restore_run(args.run_dir, args.overrides, args.checkpoint, command)
    cfg = restored.config
    test_set = build_dataset(cfg.data, split="test")
    num_classes = test_set.num_classes
    if args.limit < 0:
        raise UsageError(f"{command}: --limit must be >= 0, got {args.limit}")
    if args.limit:
        test_set = Subset(test_set, range(min(args.limit, len(test_set))))
    return cfg, restored.model.to(cfg.train.device).eval(), path, folder, test_set, num_classes


def _restore_run(run_dir: str, overrides: Sequence[str], checkpoint: str, command: str):
    """(run folder, checkpoint path, restored checkpoint) of ``run_dir``: its best checkpoint, else its last."""
    from ltsnn.build import EVAL_KEYS, restore
    from ltsnn.engine import RunFolder

    folder = RunFolder(run_dir)
    if not folder.root.is_dir():
        raise FileNotFoundError(f"{folder.root}: no such folder; expected a run folder written by `ltsnn train`")
    path = folder.best if checkpoint == "best" and folder.best.is_file() else folder.last
    restored = restore(path, overrides_only(overrides, command=command), allowed=EVAL_KEYS,
                       why=f"{command} rebuilds the model from the checkpoint")
    return folder, path, restored


def _transfer_source(run_dir: str, overrides: Sequence[str], cfg, device: str):
    """The classifier and EoT draws of the run a transfer attack is crafted on; it must use ``cfg``'s data set."""
    from ltsnn.layers import encoder_of
    from ltsnn.robust import snn_classifier

    _, path, restored = _restore_run(run_dir, overrides, "best", "attack")
    data = restored.config.data
    if (data.name, data.options) != (cfg.data.name, cfg.data.options):
        raise UsageError(f"attack --transfer-from {run_dir}: its data is {data.name} {data.options}, expected the "
                         f"attacked run's {cfg.data.name} {cfg.data.options} (the same images)")
    model = restored.model.to(device).eval()
    return model, snn_classifier(model, data.n_time_bins), 8 if encoder_of(model).stochastic else 1, path


def _cmd_attack(args: argparse.Namespace) -> int:
    from ltsnn.engine import test_loader as ordered_loader      # not test_*: pytest would collect it
    from ltsnn.layers import encoder_of
    from ltsnn.robust import accuracy_under_attack, attack_surrogate, snn_classifier, static_images

    eps = csv_values(args.eps, "--eps", float)
    if args.steps < 1:
        raise UsageError(f"attack: --steps must be >= 1, got {args.steps}")
    cfg, model, path, folder, test_set, _ = _restore(args, "attack")
    encoder = encoder_of(model)
    n_eot = args.eot if args.eot is not None else (8 if encoder.stochastic else 1)
    surrogate = None if args.surrogate == "own" else args.surrogate
    device = cfg.train.device
    batches = ((static_images(frames.to(device)), labels.to(device))
               for frames, labels in ordered_loader(test_set, batch_size=cfg.data.batch_size, num_workers=0))
    classifier = snn_classifier(model, cfg.data.n_time_bins)
    source, source_model, source_path = classifier, model, None
    if args.transfer_from is not None:
        source_model, source, n_eot, source_path = _transfer_source(args.transfer_from, args.overrides, cfg, device)
    with attack_surrogate(model, surrogate), attack_surrogate(source_model, surrogate):
        rows = accuracy_under_attack(classifier, batches, eps=eps, norm=args.norm, steps=args.steps, n_eot=n_eot,
                                     random_start=args.random_start, seed=cfg.train.seed, source=source)
    attack = "FGSM" if args.steps == 1 and not args.random_start else f"PGD-{args.steps}"
    if source_path is not None:
        attack += f" transferred from {Path(args.transfer_from).name}"
    settings = {"checkpoint": str(path), "attack": attack, "norm": args.norm, "steps": args.steps, "eot": n_eot,
                "random_start": args.random_start, "surrogate": args.surrogate, "encoder": type(encoder).__name__,
                "model": cfg.model.name, "data": cfg.data.name, "n_time_bins": cfg.data.n_time_bins,
                "transfer_from": None if source_path is None else str(source_path)}
    stem = folder.root / args.name
    _write_table(stem, settings, rows, ("eps", "accuracy", "n"))
    _plot(stem.with_suffix(".png"), [r["eps"] for r in rows], [r["accuracy"] for r in rows],
          xlabel=f"ε ({args.norm})", ylabel="accuracy",
          title=f"{cfg.model.name} ({cfg.model.encoder} coding): {attack}, EoT {n_eot}, n={rows[0]['n']}")
    for r in rows:
        print(f"eps {r['eps']:<8g} accuracy {r['accuracy']:.4f}")
    print(f"attack: {stem.with_suffix('.csv')}, {args.name}.json, {args.name}.png")
    return 0


def _cmd_certify(args: argparse.Namespace) -> int:
    import torch

    from ltsnn.layers import encoder_of
    from ltsnn.robust import certify_dataset, smoothed_classifier, snn_classifier, static_images

    radii = csv_values(args.radii, "--radii", float)
    cfg, model, path, folder, test_set, num_classes = _restore(args, "certify")
    encoder = encoder_of(model)
    if args.noise == "encoder":
        if not encoder.sigma > 0:
            raise UsageError(f"certify --noise encoder: the run's encoder ({cfg.model.encoder}) has no Gaussian "
                             f"noise, so its own randomness certifies no L2 radius (expected model.encoder=rsc)")
        if args.sigma is not None and args.sigma != encoder.sigma:
            raise UsageError(f"certify --noise encoder: --sigma {args.sigma} differs from the encoder's sigma "
                             f"{encoder.sigma}; leave --sigma out")
        sigma = encoder.sigma
    else:
        sigma = 0.25 if args.sigma is None else args.sigma
    sample = smoothed_classifier(snn_classifier(model, cfg.data.n_time_bins), noise=args.noise, sigma=sigma,
                                 seed=cfg.train.seed)
    items = ((static_images(torch.as_tensor(frames).unsqueeze(0).to(cfg.train.device))[0], label)
             for frames, label in test_set)
    per_image, table = certify_dataset(sample, items, sigma=sigma, n0=args.n0, n=args.n, alpha=args.alpha,
                                       num_classes=num_classes, radii=radii, batch=args.batch)
    settings = {"checkpoint": str(path), "sigma": sigma, "noise": args.noise, "n": args.n, "n0": args.n0,
                "alpha": args.alpha, "encoder": type(encoder).__name__, "model": cfg.model.name,
                "data": cfg.data.name, "n_time_bins": cfg.data.n_time_bins, "per_image": per_image}
    _write_table(folder.root / "certify", settings, table, ("radius", "certified_accuracy", "n"))
    _plot(folder.root / "certify.png", [r["radius"] for r in table], [r["certified_accuracy"] for r in table],
          xlabel="L2 radius", ylabel="certified accuracy",
          title=f"{cfg.model.name} ({cfg.model.encoder} coding): σ={sigma:g} ({args.noise}), n={args.n}, "
                f"α={args.alpha:g}")
    for r in table:
        print(f"radius {r['radius']:<8g} certified accuracy {r['certified_accuracy']:.4f}")
    print(f"certify: {folder.root / 'certify.csv'}, certify.json, certify.png")
    return 0


def _write_table(stem: Path, settings: dict[str, Any], rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """``stem``.csv (the rows) and ``stem``.json (the settings and the rows), written atomically."""
    lines = [",".join(columns)] + [",".join(f"{row[c]:g}" if isinstance(row[c], float) else str(row[c])
                                            for c in columns) for row in rows]
    write_text_atomic(stem.with_suffix(".csv"), "\n".join(lines) + "\n")
    write_text_atomic(stem.with_suffix(".json"), json.dumps({**settings, "rows": list(rows)}, indent=1) + "\n")


def _plot(path: Path, x: Sequence[float], y: Sequence[float], *, xlabel: str, ylabel: str, title: str) -> None:
    from ltsnn.engine.plots import pyplot

    plt = pyplot()                                              # matplotlib (the `cli` extra), Agg, imported now
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(x, y, marker="o")
    ax.set(xlabel=xlabel, ylabel=ylabel, ylim=(-0.02, 1.02))
    ax.set_title(title, fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
