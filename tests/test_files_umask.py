"""Files ltsnn writes follow the user's umask (mkstemp alone would make them 0600, unreadable by colleagues)."""

import os
import stat

import pytest
import torch

from ltsnn.engine.checkpoint import save_checkpoint
from ltsnn.engine.metrics import RunFolder, write_history
from ltsnn.files import _umask, write_text_atomic


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_umask_is_read_without_changing_it(umask):
    assert _umask() == umask
    assert os.umask(umask) == umask                             # still what the fixture set


def test_metrics_checkpoint_and_report_files_follow_the_umask(tmp_path, umask):
    folder = RunFolder(tmp_path / "run")
    record = {"epoch": 1, "thresholds": {"l1": 1.0}, "fixed_layers": [], "firing_rates": {"l1": 0.1}}
    write_history(folder, [record])
    save_checkpoint(folder.last, {"model": {"w": torch.zeros(2)}})
    write_text_atomic(folder.report / "report.md", "# Run report\n")
    for path in (folder.metrics, folder.thresholds, folder.last, folder.report / "report.md"):
        assert _mode(path) == 0o666 & ~umask, path
