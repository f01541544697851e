"""The ``ltsnn`` command line, the only package that reads argv, sees a config or sets an exit code.

Each module registers its sub-commands with ``add_commands(sub)``: :mod:`~ltsnn.cli.runs` (train, eval,
report, models, ablation), :mod:`~ltsnn.cli.keys` (config), :mod:`~ltsnn.cli.convert` (convert, export),
:mod:`~ltsnn.cli.prune` (prune), :mod:`~ltsnn.cli.robust` (attack, certify), :mod:`~ltsnn.cli.data` (data).
Only the module of the command being run is imported (:data:`COMMANDS`), so ``ltsnn --help`` starts
without torch. A user error (bad key or value, unknown name, wrong input shape,
missing or foreign file) prints one line ``ltsnn: error: ...`` to stderr and gives exit code 2; a run
stopped by a non-finite value or divergence gives 1.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Sequence

from ltsnn.cli.common import Parser, UsageError

# Every command: the module of ltsnn.cli whose add_commands(sub) registers it, and its line in `ltsnn --help`.
# The line lives here so that the top-level help imports no command module (they import torch); a new
# command is one line here.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("runs", "train a model; writes a run folder"),
    "eval": ("runs", "evaluate a run folder or checkpoint on its test set"),
    "report": ("runs", "write RUN_DIR/report/: accuracy, thresholds, firing rates, energy, size"),
    "models": ("runs", "list the registered models, neurons and data sets"),
    "ablation": ("runs", "threshold-gradient ablation over modes and seeds (LT-SNN Table 2)"),
    "config": ("keys", "list every config key with its type, default and allowed values"),
    "convert": ("convert", "QCFS ANN -> IF or LM-HT networks; LM-HT -> binary; each evaluated"),
    "export": ("convert", "write a trained model as a NIR graph for other simulators (docs/nir.md)"),
    "prune": ("prune", "lottery-ticket pruning of a trained run: prune, rewind, retrain, R rounds"),
    "attack": ("robust", "accuracy under FGSM / PGD attacks; writes attack.csv/.json/.png"),
    "certify": ("robust", "certified L2 accuracy by randomized smoothing; writes certify.csv/.json/.png"),
    "data": ("data", "prepare a data set's frame cache, or inspect an event file"),
}
# The packages of the `cli` extra (pyproject.toml), imported only where they are used.
CLI_EXTRA = ("yaml", "tqdm", "matplotlib", "safetensors")
HELP_FLAGS = ("-h", "--help")


def _parser(argv: Sequence[str]) -> Parser:
    """The parser for ``argv``: the named command's module registers its commands for real; every other
    command is a stand-in that only lists it in ``ltsnn --help`` (and is never run: its module would be)."""
    p = Parser(prog="ltsnn", description="Spiking neural networks with learnable thresholds (LT-SNN, LM-HT).")
    sub = p.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    command = _command_in(argv)
    if command is not None:
        importlib.import_module(f"ltsnn.cli.{COMMANDS[command][0]}").add_commands(sub)
    for name, (_, line) in COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=line)
    return p


def _command_in(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (its first positional argument), unless ``--help`` comes before it."""
    for arg in argv:
        if arg in HELP_FLAGS:
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def _parse(argv: Sequence[str] | None):
    """Parse ``argv``; ``key=value`` overrides may also come after the options (argparse alone would refuse
    ``ltsnn eval RUN --flag x key=value``), and go to the command's ``overrides`` or ``items``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = _parser(argv).parse_known_args(argv)
    target = next((name for name in ("overrides", "items") if hasattr(args, name)), None)
    stray = [s for s in extra if "=" not in s or s.startswith("-")]
    if stray or (extra and target is None):
        raise UsageError(f"ltsnn: unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        setattr(args, target, [*getattr(args, target), *extra])
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in ``argv`` (default: ``sys.argv[1:]``); returns the exit code.

    Example:
        >>> main(["config", "loss"])                            # doctest: +ELLIPSIS
        loss.preset ...
        0
    """
    try:
        args = _parse(argv)
        return args.run(args)
    except ModuleNotFoundError as e:
        if e.name not in CLI_EXTRA:
            raise
        return _fail(f"this command needs the optional package {e.name!r}: pip install 'ltsnn[cli]'", code=2)
    except BrokenPipeError:                                     # `ltsnn config | head`: the reader has its lines
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # so the exit's flush does not fail again
        return 0
    except KeyboardInterrupt:
        print("ltsnn: interrupted; continue a run with `ltsnn train --resume RUN_DIR`", file=sys.stderr)
        return 130
    except Exception as e:
        code = _exit_code(e)
        if code is None:                                        # a bug: the traceback is what helps
            raise
        return _fail(e, code=code)


def _exit_code(e: Exception) -> int | None:
    """2 for the user's error (a bad key or value, a missing or foreign file), 1 for a stopped run (a
    non-finite value, divergence, a killed data worker), None for anything else.

    The library's own exception classes are looked up only if their modules are loaded: an instance cannot
    exist otherwise, and importing them here would load torch for every command.
    """
    if isinstance(e, (UsageError, ValueError, FileNotFoundError)):   # ConfigError is a ValueError
        return 2
    if isinstance(e, ChildProcessError):                        # a killed data worker
        return 1
    checkpoint, guard = sys.modules.get("ltsnn.engine.checkpoint"), sys.modules.get("ltsnn.engine.guard")
    if checkpoint is not None and isinstance(e, checkpoint.CheckpointError):
        return 2
    if guard is not None and isinstance(e, guard.TrainingStopped):
        return 1
    return None


def _fail(e: BaseException | str, *, code: int) -> int:
    message = " ".join(str(e).split("\n")).strip() or type(e).__name__
    print(f"ltsnn: error: {message}", file=sys.stderr)
    return code
