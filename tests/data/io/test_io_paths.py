"""The compiled (numba) and numpy decoders give identical events and identical errors (ltsnn.data.io.jit)."""

import sys

import numpy as np
import pytest

from ltsnn.data import make_events
from ltsnn.data.io import iter_events, read_events

import io_encoders as enc
from test_io_fuzz import REAL_SOURCES, mutate, written_sources

pytest.importorskip("numba")

FIXTURES = ["ncars/tonic_sample_ncars.dat", "prophesee_dat/faery_gen4_imx636.dat",
            "prophesee_raw/expelliarmus_evt2_sample_gen3.raw", "prophesee_raw/expelliarmus_evt3_sample_gen41.raw",
            "prophesee_raw/faery_evt3_imx636_evk4.raw", "aedat4/faery_davis346.aedat4"]
CASES_PER_SOURCE = 60


def outcome(path, fmt, chunk_size=None):
    """The events (whole read, or iter_events chunks), or the error's type and message."""
    try:
        if chunk_size is None:
            recording = read_events(path, format=fmt)
            return recording.events, recording.sensor_size
        return list(iter_events(path, chunk_size=chunk_size, format=fmt))
    except ValueError as error:
        return f"ValueError: {error}"


def both_paths(monkeypatch, path, fmt=None, chunk_size=None):
    monkeypatch.setenv("LTSNN_IO_NUMPY", "1")
    numpy_result = outcome(path, fmt, chunk_size)
    monkeypatch.delenv("LTSNN_IO_NUMPY")
    return numpy_result, outcome(path, fmt, chunk_size)


def assert_same(a, b):
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
    elif isinstance(a, tuple):
        np.testing.assert_array_equal(a[0], b[0])
        assert a[0].dtype == b[0].dtype and a[1] == b[1]
    else:
        assert len(a) == len(b)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", FIXTURES)
def test_real_files_decode_identically(fixtures_dir, monkeypatch, name):
    if name.endswith(".aedat4"):
        pytest.importorskip("lz4")
    numpy_result, compiled_result = both_paths(monkeypatch, fixtures_dir / name)
    assert not isinstance(compiled_result, str) and len(compiled_result[0]) > 1000
    assert_same(numpy_result, compiled_result)


def test_corrupted_files_fail_identically(tmp_path, fixtures_dir, monkeypatch):
    """Seeded mutations of every source: the same events, or the same error message, on both paths."""
    pytest.importorskip("lz4")
    sources = [(name.replace("/", "_"), fmt, (fixtures_dir / name).read_bytes()[:size])
               for name, fmt, size in REAL_SOURCES] + written_sources()
    rng = np.random.default_rng(7)
    errors = 0
    for name, fmt, data in sources:
        path = tmp_path / name
        for case in range(CASES_PER_SOURCE):
            path.write_bytes(mutate(data, rng))
            numpy_result, compiled_result = both_paths(monkeypatch, path, fmt)
            assert_same(numpy_result, compiled_result)
            errors += isinstance(numpy_result, str)
            if case % 10 == 0:                                   # chunked reads carry state the same way
                assert_same(*both_paths(monkeypatch, path, fmt, chunk_size=97))
    assert 0 < errors < len(sources) * CASES_PER_SOURCE        # both outcomes exercised


def test_evt3_vector_stream_grows_the_output(tmp_path, monkeypatch):
    """12 events per word: more events than words, so the compiled decoder grows its buffer and resumes."""
    words = [enc.evt3_time_high(1), enc.evt3_addr_y(3), enc.evt3_vect_base_x(0, 1)]
    words += [enc.evt3_vect_12(0xFFF) for _ in range(100)]
    path = tmp_path / "vectors.raw"
    path.write_bytes(enc.raw_file(["evt 3.0"], words[:3] + words[3:103], "<u2"))
    numpy_result, compiled_result = both_paths(monkeypatch, path)
    assert_same(numpy_result, compiled_result)
    assert compiled_result[0]["x"].tolist() == list(range(1200))
    for chunk_size in (5, 1000):
        assert_same(*both_paths(monkeypatch, path, chunk_size=chunk_size))


def test_aedat2_davis_and_wrap_identical(tmp_path, monkeypatch):
    top = 1 << 32
    records = [(enc.davis_address(x, 5, 1), t) for x, t in ((1, top - 40), (2, top - 30), (3, top - 20), (4, 1),
                                                             (5, 9), (345, 12))]
    records.insert(2, (1 << 31, top - 25))                      # an APS sample: skipped, its time still counts
    path = tmp_path / "davis.aedat"
    path.write_bytes(enc.aedat2(records, chip="DAVIS346"))
    numpy_result, compiled_result = both_paths(monkeypatch, path)
    assert_same(numpy_result, compiled_result)
    assert compiled_result[0]["t"].tolist() == [top - 40, top - 30, top - 20, top + 1, top + 9, top + 12]
    bad = tmp_path / "bad.aedat"
    bad.write_bytes(enc.aedat2(records[:3] + [(enc.davis_address(1, 300, 1), top - 10)] + records[3:],
                               chip="DAVIS346"))
    numpy_result, compiled_result = both_paths(monkeypatch, bad)
    assert numpy_result == compiled_result and "y address 300 is outside the 346x260 sensor" in numpy_result


def test_aedat4_conversion_identical(tmp_path, monkeypatch):
    events = make_events(t=[1, 2, 2, 5], x=[0, 345, 7, 8], y=[259, 0, 1, 2], p=[1, 0, 1, 0])
    path = tmp_path / "a.aedat4"
    path.write_bytes(enc.aedat4([events[:2], events[2:]]))
    numpy_result, compiled_result = both_paths(monkeypatch, path)
    assert_same(numpy_result, compiled_result)
    np.testing.assert_array_equal(compiled_result[0], events)


def test_without_numba_the_numpy_path_reads(tmp_path, monkeypatch):
    """numba is optional: when it cannot be imported, compiled() gives None and the readers still work."""
    from ltsnn.data.io import jit
    monkeypatch.setattr(jit, "_COMPILED", {})
    monkeypatch.setattr(jit, "_NUMBA_MISSING", False)
    monkeypatch.setitem(sys.modules, "numba", None)             # makes `import numba` fail
    assert jit.compiled(jit.compiled) is None and jit._NUMBA_MISSING
    path = tmp_path / "a.raw"
    path.write_bytes(enc.raw_file(["evt 2.0"], enc.evt2_words(make_events(t=[70, 80], x=[1, 2], y=[3, 4],
                                                                          p=[1, 0])), "<u4"))
    assert read_events(path).events["t"].tolist() == [70, 80]
