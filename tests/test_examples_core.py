"""The runnable examples in the docstrings of the engine, kernels, layers and neurons modules (the data
modules have their own list in tests/data/test_docstrings.py)."""

import doctest
import importlib

import pytest

MODULES = ["ltsnn.engine.guard", "ltsnn.engine.device", "ltsnn.engine.distributed", "ltsnn.engine.precision",
           "ltsnn.layers.sync_norm", "ltsnn.kernels", "ltsnn.kernels.lif", "ltsnn.neurons.base", "ltsnn.neurons.lif"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0
