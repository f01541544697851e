"""``ltsnn config``: every key a config file or a ``key=value`` override may set, with its type, default and
allowed values, read from the dataclasses of :mod:`ltsnn.config` (so the list cannot fall behind them).

    ltsnn config              # all sections
    ltsnn config train        # one section
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
from typing import Any, Union, get_args, get_origin, get_type_hints


def add_commands(sub) -> None:
    """Register ``config`` on the ``ltsnn`` sub-parser ``sub``."""
    c = sub.add_parser("config", description="Every config key (YAML `section: {key: value}` or a `section.key=value` "
                                             "override of `ltsnn train`), with its type, default and allowed values.")
    c.add_argument("sections", nargs="*", metavar="SECTION", help="only these sections (default: all)")
    c.set_defaults(run=_cmd_config)


def _cmd_config(args: argparse.Namespace) -> int:
    from ltsnn.cli.common import UsageError
    from ltsnn.config import SECTIONS

    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        raise UsageError(f"config: unknown section {unknown[0]!r}; expected one of {', '.join(SECTIONS)}")
    rows = [row for section in (args.sections or SECTIONS) for row in config_keys(section)]
    width = max(len(key) for key, *_ in rows)
    type_width = max(len(tp) for _, tp, *_ in rows)
    for key, tp, default, allowed in rows:
        print(f"{key:<{width}}  {tp:<{type_width}}  {default}" + (f"  ({allowed})" if allowed else ""))
    return 0


def config_keys(section: str) -> list[tuple[str, str, str, str]]:
    """``(section.key, type, default as YAML would spell it, allowed values or "")`` for every key of ``section``.

    Example:
        >>> config_keys("train")[1]
        ('train.epochs', 'int', '15', '>= 1')
    """
    from ltsnn.config import SECTIONS

    cls = SECTIONS[section]
    hints = get_type_hints(cls)
    return [(f"{section}.{f.name}", _type_text(hints[f.name]), _default_text(f), _allowed_text(f.metadata))
            for f in dataclasses.fields(cls)]


def _type_text(tp: Any) -> str:
    if get_origin(tp) in (Union, types.UnionType):              # `float | None`
        return " or ".join("null" if a is type(None) else _type_text(a) for a in get_args(tp))
    if get_origin(tp) is dict:
        return "mapping"
    if get_origin(tp) is list:
        return "list of " + _type_text(get_args(tp)[0]) if get_args(tp) else "list"
    return tp.__name__


def _default_text(f: dataclasses.Field) -> str:
    value = f.default_factory() if f.default is dataclasses.MISSING else f.default   # type: ignore[misc]
    return json.dumps(value)                                    # "text", 0.001, true, null, {}: as in YAML


def _allowed_text(metadata: Any) -> str:
    if "choices" in metadata:
        return " | ".join(metadata["choices"])
    if "max" in metadata:
        return f"{metadata['min']} to {metadata['max']}"
    if "min" in metadata:
        return f"{'>' if metadata['strict'] else '>='} {metadata['min']}"
    return ""
