"""The ``ltsnn`` command line, the only package that reads argv, sees a config or sets an exit code.

Each module registers its sub-commands with ``add_commands(sub)``: :mod:`~ltsnn.cli.runs` (train, eval,
report, models, ablation), :mod:`~ltsnn.cli.convert` (convert). A user error (bad key or value, unknown
name, wrong input shape, missing or foreign file) prints one line ``ltsnn: error: ...`` to stderr and
gives exit code 2; a run stopped by a non-finite value or divergence gives 1.
"""

from __future__ import annotations

import sys
from typing import Sequence

from ltsnn.cli import convert, data, runs
from ltsnn.cli.common import Parser, UsageError
from ltsnn.config import ConfigError
from ltsnn.engine import CheckpointError, TrainingStopped

COMMAND_MODULES = (runs, convert, data)
# The packages of the `cli` extra (pyproject.toml), imported only where they are used.
CLI_EXTRA = ("yaml", "tqdm", "matplotlib", "safetensors")


def _parser() -> Parser:
    p = Parser(prog="ltsnn", description="Spiking neural networks with learnable thresholds (LT-SNN, LM-HT).")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_commands(sub)
    sub.metavar = "{" + ",".join(sub.choices) + "}"
    return p


def _parse(argv: Sequence[str] | None):
    """Parse ``argv``; ``key=value`` overrides may also come after the options (argparse alone would refuse
    ``ltsnn eval RUN --flag x key=value``), and go to the command's ``overrides`` or ``items``."""
    args, extra = _parser().parse_known_args(argv)
    target = next((name for name in ("overrides", "items") if hasattr(args, name)), None)
    stray = [s for s in extra if "=" not in s or s.startswith("-")]
    if stray or (extra and target is None):
        raise UsageError(f"ltsnn: unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        setattr(args, target, [*getattr(args, target), *extra])
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    try:
        args = _parse(argv)
        return args.run(args)
    except (UsageError, ConfigError, CheckpointError, ValueError, FileNotFoundError) as e:
        return _fail(e, code=2)
    except (TrainingStopped, ChildProcessError) as e:           # a stopped run, a killed data worker
        return _fail(e, code=1)
    except ModuleNotFoundError as e:
        if e.name not in CLI_EXTRA:
            raise
        return _fail(f"this command needs the optional package {e.name!r}: pip install 'ltsnn[cli]'", code=2)
    except KeyboardInterrupt:
        print("ltsnn: interrupted; continue a run with `ltsnn train --resume RUN_DIR`", file=sys.stderr)
        return 130


def _fail(e: BaseException | str, *, code: int) -> int:
    message = " ".join(str(e).split("\n")).strip() or type(e).__name__
    print(f"ltsnn: error: {message}", file=sys.stderr)
    return code
