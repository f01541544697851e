"""The README's commands work as written for a new user: the set-up block says how to get `ltsnn` on the PATH,
and the "Using it" commands, pasted one after another into a fresh checkout, run (here with one epoch each)."""

import re
import shlex
from pathlib import Path

import pytest

from ltsnn.cli import _parse, main

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
# Keys added to every training command so that the whole block runs in minutes: the commands themselves,
# their configs and the run folders they name are the README's.
TINY = ["train.epochs=1", "data.n_time_bins=2", "train.progress=never"]


def bash_blocks(section: str) -> list[list[str]]:
    """The ``ltsnn`` command lines of each fenced bash block under the README heading ``section``."""
    text = README.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [[line.split("  #")[0].strip() for line in block.splitlines() if line.startswith("ltsnn ")]
            for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_setup_block_puts_ltsnn_on_the_path_before_using_it():
    setup = README.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    activate = next(i for i, line in enumerate(setup) if line.startswith("source .venv/bin/activate"))
    first_ltsnn = next(i for i, line in enumerate(setup) if line.startswith("ltsnn "))
    assert setup[0].startswith("make demo") and activate < first_ltsnn


def test_pasted_commands_parse_and_name_existing_configs_and_earlier_runs():
    runnable, own_files = bash_blocks("Using it")
    assert len(runnable) >= 10 and any("data inspect" in c for c in own_files)
    trained = set()
    for command in runnable:
        argv = shlex.split(command)[1:]
        args = _parse(argv)
        for word in argv:
            if word.endswith(".yaml"):
                assert (REPO / word).is_file(), command
            if word.startswith("runs/"):                        # a run folder made by an earlier command
                assert word.split("/")[1] in trained, command
            if word.startswith("train.name="):
                trained.add(word.partition("=")[2])
        assert callable(args.run)


@pytest.mark.slow                                               # trains 10 one-epoch runs: minutes on 2 cores
def test_pasted_commands_run_one_after_another_in_a_fresh_checkout(tmp_path, monkeypatch, capsys):
    (tmp_path / "configs").symlink_to(REPO / "configs")
    monkeypatch.chdir(tmp_path)
    runnable, _ = bash_blocks("Using it")
    for command in runnable:
        argv = shlex.split(command)[1:]
        if argv[0] == "ablation":                               # 5 modes x 3 seeds: two modes, one seed
            argv = [a for a in argv if not a.startswith("--") and "," not in a] + ["--modes", "fixed,sgp",
                                                                                     "--seeds", "0"]
        if argv[0] in ("train", "ablation") and "--resume" not in argv:
            argv += TINY
        assert main(argv) == 0, (command, capsys.readouterr().err)
    assert (tmp_path / "runs" / "demo" / "report" / "report.md").is_file()
    assert (tmp_path / "runs" / "hybrid" / "converted").is_dir()
