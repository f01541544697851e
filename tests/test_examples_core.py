"""The runnable examples (``>>>``) in the docstrings of every module of ltsnn run and print what they show.

The modules are found by walking ``ltsnn/`` on disk, so a new module is collected without editing this
file; a module whose optional dependency is missing is skipped, naming it. The API reference
(docs/reference/, tests/test_api_reference.py) renders these same docstrings.
"""

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ltsnn"


def module_names() -> list[str]:
    """Every importable module of ltsnn (``__main__`` aside: importing it runs the CLI), sorted."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__main__" or any(not p.isidentifier() for p in parts):
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = module_names()

# Modules that must keep at least one example (the coverage can grow, not shrink).
MUST_HAVE_EXAMPLES = ["ltsnn.registry", "ltsnn.files", "ltsnn.config", "ltsnn.build",
                      "ltsnn.engine.guard", "ltsnn.engine.device", "ltsnn.engine.distributed",
                      "ltsnn.engine.precision", "ltsnn.layers.sync_norm", "ltsnn.kernels", "ltsnn.kernels.lif",
                      "ltsnn.neurons.base", "ltsnn.neurons.lif", "ltsnn.models.base", "ltsnn.models.registry",
                      "ltsnn.data.representations", "ltsnn.data.simulate", "ltsnn.tasks.classification.task",
                      "ltsnn.convert.qcfs",
                      # the data side's public API (formerly tests/data/test_docstrings.py)
                      "ltsnn.data", "ltsnn.data.box_filter", "ltsnn.data.functional.boxes",
                      "ltsnn.data.functional.frames", "ltsnn.data.functional.resize", "ltsnn.data.io.boxes",
                      "ltsnn.data.io.dat", "ltsnn.data.datasets.registry", "ltsnn.data.datasets.moving_shapes",
                      "ltsnn.data.cache", "ltsnn.data.fingerprint", "ltsnn.data.io.jit", "ltsnn.data.io.samples",
                      "ltsnn.data.datasets.idx", "ltsnn.data.datasets.images", "ltsnn.data.datasets.validation"]


def import_or_skip(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] == "ltsnn":
            raise
        pytest.skip(f"{name} needs the optional package {err.name!r}, which is not installed")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(import_or_skip(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed (above)"


def test_every_module_is_collected():
    assert len(MODULES) > 50
    for name in MUST_HAVE_EXAMPLES + ["ltsnn", "ltsnn.data.io.dat", "ltsnn.tasks.detection.task"]:
        assert name in MODULES


@pytest.mark.parametrize("name", MUST_HAVE_EXAMPLES)
def test_module_keeps_its_examples(name):
    examples = sum(len(test.examples) for test in doctest.DocTestFinder().find(import_or_skip(name)))
    assert examples > 0, f"{name} has no docstring example"
