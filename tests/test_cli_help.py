"""The command line starts light: help needs no torch, every command in the registry is registered by its module,
and `ltsnn config` lists every config key."""

import dataclasses
import re
import subprocess
import sys

import pytest

from ltsnn.cli import COMMANDS, _parser, main

LIGHT_HELP = [["--help"], ["train", "--help"], ["eval", "--help"], ["report", "--help"], ["models", "--help"],
              ["ablation", "--help"], ["config", "--help"], ["data", "--help"], ["data", "inspect", "--help"],
              ["data", "prepare", "--help"], ["convert", "--help"], ["export", "--help"], ["attack", "--help"],
              ["certify", "--help"], ["prune", "--help"]]
HEAVY = ("torch", "numpy", "matplotlib", "yaml")


def test_help_imports_no_torch_or_numpy():
    # `python -m ltsnn ARGS` in a fresh interpreter, then the heavy packages it loaded on the way.
    code = ("import runpy, sys\n"
            "for argv in {argvs!r}:\n"
            "    sys.argv = ['ltsnn', *argv]\n"
            "    try:\n"
            "        runpy.run_module('ltsnn', run_name='__main__', alter_sys=True)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print('LOADED', sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))\n"
            ).format(argvs=LIGHT_HELP, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "usage: ltsnn" in out and "usage: ltsnn data inspect" in out
    assert all(f"usage: ltsnn {command}" in out for command in ("convert", "export", "attack", "certify", "prune"))
    assert out.strip().splitlines()[-1] == "LOADED []"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_listed_command_is_registered_by_its_module(command):
    sub = next(a for a in _parser([command])._actions if a.dest == "command")
    assert "run" in sub.choices[command]._defaults or sub.choices[command]._subparsers is not None


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command, (_, line) in COMMANDS.items():
        assert command in out and line.split()[0] in out


def test_report_defaults_shown_in_help_are_the_engines():
    from ltsnn.cli import runs
    from ltsnn.engine import energy
    assert (runs.E_MAC_PJ, runs.E_AC_PJ, runs.FIRST_LAYER_MODES) == (energy.E_MAC_PJ, energy.E_AC_PJ,
                                                                     energy.FIRST_LAYER_MODES)


def test_choices_shown_in_help_are_the_librarys():
    # convert, robust and prune spell out the library's constants for their parsers (no torch for --help).
    from ltsnn.build import RESUME_KEYS
    from ltsnn.cli import convert, prune, robust
    from ltsnn.convert.nir import DEFAULT_DT
    from ltsnn.convert.qcfs import CONVERT_TARGETS
    from ltsnn.engine import prune as engine_prune
    from ltsnn.functional.surrogate import SURROGATES
    from ltsnn.robust import NOISES, NORMS
    assert (convert.CONVERT_TARGETS, convert.DEFAULT_DT) == (tuple(CONVERT_TARGETS), DEFAULT_DT)
    assert (robust.NORMS, robust.NOISES, robust.SURROGATE_NAMES) == (tuple(NORMS), tuple(NOISES),
                                                                     tuple(sorted(SURROGATES)))
    assert prune.PRUNE_KEYS == tuple(k for k in RESUME_KEYS if k != "train.epochs")
    assert (prune.SCOPES, prune.COUNT_RULES, prune.INCLUDES, prune.SF_MIXES) == tuple(
        tuple(getattr(engine_prune, name)) for name in ("SCOPES", "COUNT_RULES", "INCLUDES", "SF_MIXES"))


def test_eval_keys_shown_in_help_are_the_builders():
    from ltsnn.build import EVAL_KEYS
    from ltsnn.cli.runs import EVAL_KEYS_TEXT
    from ltsnn.config import DataConfig
    train_keys = {k for k in EVAL_KEYS if not k.startswith("data.")}
    assert {k for k in EVAL_KEYS if k.startswith("data.")} == {f"data.{f.name}" for f in dataclasses.fields(DataConfig)
                                                               if f.name != "seed"}
    assert all(k in EVAL_KEYS_TEXT for k in train_keys) and "other than data.seed" in EVAL_KEYS_TEXT


def test_config_lists_every_key_with_type_and_default(capsys):
    import yaml

    from ltsnn.config import SECTIONS, Config
    assert main(["config"]) == 0
    rows = {row[0]: row[1:] for row in (re.split(r"\s{2,}", line) for line in capsys.readouterr().out.splitlines())}
    defaults = Config()
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            tp, shown, *allowed = rows[f"{section}.{f.name}"]
            assert tp.split(" or ")[0].split(" of ")[0] in ("str", "int", "float", "bool", "mapping", "list"), tp
            assert yaml.safe_load(shown) == getattr(getattr(defaults, section), f.name), (section, f.name, shown)
    assert len(rows) == sum(len(dataclasses.fields(cls)) for cls in SECTIONS.values())


def test_config_shows_allowed_values_and_rejects_an_unknown_section(capsys):
    assert main(["config", "optim"]) == 0
    out = capsys.readouterr().out
    assert "optim.threshold_lr" in out and "float or null" in out and "optim.lr" in out and "(> 0)" in out
    assert "model.name" not in out
    assert main(["config", "nosuch"]) == 2
    assert "unknown section 'nosuch'" in capsys.readouterr().err


def test_train_help_names_every_config_section_and_ltsnn_config(capsys):
    from ltsnn.config import SECTIONS
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "`ltsnn config` lists every key" in out and all(section in out for section in SECTIONS)
