"""What every ``ltsnn`` sub-command shares: the usage error and the parsing of argument lists."""

from __future__ import annotations

import argparse
import inspect
import sys
from typing import Any, Sequence


class UsageError(Exception):
    """Bad command-line usage; the message is one line."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):                              # argparse would print usage and exit
        raise UsageError(f"{self.prog}: {message}")


def split_items(items: Sequence[str]) -> tuple[str | None, list[str]]:
    """``[CONFIG.yaml] [key=value ...]`` -> (config path or None, overrides)."""
    paths = [s for s in items if "=" not in s]
    for s in paths:
        if not s.endswith((".yaml", ".yml")):
            raise UsageError(f"expected CONFIG.yaml or section.key=value, got {s!r}")
    if len(paths) > 1:
        raise UsageError(f"expected at most one CONFIG.yaml and key=value overrides, got {paths}")
    return (paths[0] if paths else None), [s for s in items if "=" in s]


def overrides_only(items: Sequence[str], *, command: str) -> list[str]:
    bad = [s for s in items if "=" not in s]
    if bad:
        raise UsageError(f"{command}: expected key=value overrides after the checkpoint, got {bad}")
    return list(items)


def csv_values(text: str, flag: str, kind: type) -> list:
    try:
        values = [kind(s.strip()) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"{flag}: expected comma-separated {kind.__name__} values, got {text!r}") from None
    if not values:
        raise UsageError(f"{flag}: expected at least one value")
    return values


def first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.splitlines()[0] if doc else ""


def show_progress(mode: str) -> bool:
    """``train.progress``: ``always``, ``never`` or ``auto`` (bars only on a terminal)."""
    return {"always": True, "never": False}.get(mode, sys.stderr.isatty())
