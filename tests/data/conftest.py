"""Fixtures of the data tests: the MANIFEST of the real recordings (``fixtures_dir`` is in tests/conftest.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def manifest(fixtures_dir: Path) -> dict[str, dict[str, str]]:
    """MANIFEST.csv rows keyed by file path."""
    with open(fixtures_dir / "MANIFEST.csv", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f)}
