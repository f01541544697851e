import pytest

from ltsnn.registry import Registry


def test_register_lookup_describe_and_errors():
    reg = Registry("widget")

    @reg.register("b")
    def make_b():
        """Makes a b.

        More text."""

    reg.register("a")(lambda: None)
    assert reg.lookup("b") is make_b
    assert reg.describe() == {"a": "", "b": "Makes a b."}
    with pytest.raises(ValueError, match=r"unknown widget 'c'; expected one of \['a', 'b'\]"):
        reg.lookup("c")
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.register("a")(lambda: None)
