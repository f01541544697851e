import pytest

from ltsnn.data import EVENT_DTYPE, make_events


def test_make_events_builds_the_layout():
    events = make_events([5, 7], [1, 65535], [2, 0], [True, False])
    assert events.dtype == EVENT_DTYPE
    assert events.tolist() == [(5, 1, 2, 1), (7, 65535, 0, 0)]


def test_make_events_empty():
    events = make_events([], [], [], [])
    assert events.dtype == EVENT_DTYPE and events.shape == (0,)


@pytest.mark.parametrize("field, column, match", [
    ("x", [1, -1], r"'x' at index 1 is -1"),
    ("y", [70000, 0], r"'y' at index 0 is 70000"),
    ("p", [0, 2], r"'p' at index 1 is 2"),
])
def test_make_events_rejects_out_of_range(field, column, match):
    columns = {"t": [0, 1], "x": [0, 0], "y": [0, 0], "p": [0, 0], field: column}
    with pytest.raises(ValueError, match=match):
        make_events(**columns)


def test_make_events_rejects_bad_shapes_and_types():
    with pytest.raises(ValueError, match="'x' has shape"):
        make_events([0, 1], [0], [0, 0], [0, 0])
    with pytest.raises(ValueError, match="'t' has dtype float64"):
        make_events([0.5], [0], [0], [0])
