"""The examples in the docstrings of the data side's public API run and print what they show."""

import doctest
import importlib

import pytest

MODULES = ["ltsnn.files", "ltsnn.data", "ltsnn.data.representations", "ltsnn.data.box_filter",
           "ltsnn.data.functional.boxes", "ltsnn.data.functional.frames", "ltsnn.data.functional.resize",
           "ltsnn.data.io.boxes", "ltsnn.data.io.dat", "ltsnn.data.datasets.registry", "ltsnn.data.datasets.moving_shapes",
           "ltsnn.data.cache", "ltsnn.data.fingerprint", "ltsnn.data.io.jit", "ltsnn.data.io.samples",
           "ltsnn.data.simulate", "ltsnn.data.datasets.idx", "ltsnn.data.datasets.images",
           "ltsnn.data.datasets.validation"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0
