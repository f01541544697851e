"""Fixtures shared by every test folder: the real recordings in ``../shared/fixtures``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The fixtures folder: $LTSNN_FIXTURES, else ../shared/fixtures beside the repository; skips if absent."""
    folder = Path(os.environ.get("LTSNN_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
    if not (folder / "MANIFEST.csv").is_file():
        pytest.skip(f"real event recordings not found at {folder} (set LTSNN_FIXTURES to the fixtures folder)")
    return folder
