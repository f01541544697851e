"""Fuzz: every reader on >= 1,000 corrupted inputs raises only the documented errors, and never hangs.

Inputs are small prefixes of the real fixtures (and files written in the layouts with no real
fixture), corrupted by seeded truncations, bit flips, byte overwrites, header damage, insertions
and deletions.
"""

import time

import numpy as np
import pytest

from ltsnn.data import make_events
from ltsnn.data.io import iter_events, read_events

import io_encoders as enc

CASES_PER_SOURCE = 110
PREFIX_BYTES = 12_000
REAL_SOURCES = [  # (fixture, format, prefix bytes)
    ("nmnist/tonic_sample_nmnist.bin", "atis", PREFIX_BYTES),
    ("ncars/tonic_sample_ncars.dat", "dat", PREFIX_BYTES),
    ("prophesee_dat/faery_gen4_imx636.dat", "dat", PREFIX_BYTES),
    ("prophesee_raw/expelliarmus_evt2_sample_gen3.raw", "evt2", PREFIX_BYTES),
    ("prophesee_raw/faery_evt3_imx636_evk4.raw", "evt3", PREFIX_BYTES),
    ("prophesee_raw/expelliarmus_evt3_pedestrians_gen41.raw", "evt3", PREFIX_BYTES),
    ("aedat4/tonic_sample.aedat4", "aedat4", 30_000),
]


def written_sources() -> list[tuple[str, str, bytes]]:
    rng = np.random.default_rng(1)
    n = 300
    t = np.sort(rng.integers(0, 100_000, n))
    addresses = [enc.dvs128_address(int(x), int(y), int(p)) for x, y, p in rng.integers(0, [128, 128, 2], (n, 3))]
    packets = [enc.aedat31_packet([(int(rng.integers(0, 128)), int(rng.integers(0, 128)), int(rng.integers(0, 2)),
                                    int(ts), bool(rng.integers(0, 4))) for ts in t[i:i + 50]], capacity=60)
               for i in range(0, n, 50)]
    events = make_events(t=t, x=rng.integers(0, 346, n), y=rng.integers(0, 260, n), p=rng.integers(0, 2, n))
    return [("written.aedat", "aedat", enc.aedat2(list(zip(addresses, t.tolist())), chip="DVS128")),
            ("written31.aedat", "aedat", enc.aedat31(packets)),
            ("cifar.aedat", "cifar10dvs", enc.aedat2(list(zip(addresses, t.tolist())))),
            ("written.aedat4", "aedat4", enc.aedat4([events[:150], events[150:]]))]


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    kind = rng.integers(0, 6)
    if kind == 0 and len(buf) > 1:                                     # truncate anywhere
        return bytes(buf[:rng.integers(0, len(buf))])
    if kind == 1:                                                      # flip 1-8 bits
        for _ in range(rng.integers(1, 9)):
            i = rng.integers(0, len(buf))
            buf[i] ^= 1 << rng.integers(0, 8)
    elif kind == 2:                                                    # overwrite a run with random bytes
        i = rng.integers(0, len(buf))
        run = rng.integers(1, 33)
        buf[i:i + run] = rng.integers(0, 256, min(run, len(buf) - i), dtype=np.uint8).tobytes()
    elif kind == 3:                                                    # damage the header / first packet
        for _ in range(rng.integers(1, 4)):
            i = rng.integers(0, min(len(buf), 256))
            buf[i] = rng.integers(0, 256)
    elif kind == 4:                                                    # insert bytes (misaligns records)
        i = rng.integers(0, len(buf) + 1)
        buf[i:i] = rng.integers(0, 256, rng.integers(1, 8), dtype=np.uint8).tobytes()
    else:                                                              # delete bytes
        i = rng.integers(0, len(buf))
        del buf[i:i + rng.integers(1, 8)]
    return bytes(buf)


def test_fuzz_readers_raise_only_documented_errors(tmp_path, fixtures_dir):
    pytest.importorskip("lz4")     # the AEDAT 4 fixtures are LZ4-compressed
    sources = [(name.replace("/", "_"), fmt, (fixtures_dir / name).read_bytes()[:size])
               for name, fmt, size in REAL_SOURCES] + written_sources()
    rng = np.random.default_rng(2024)
    outcomes = {"ok": 0, "ValueError": 0}
    slowest = 0.0
    for name, fmt, data in sources:
        for case in range(CASES_PER_SOURCE):
            path = tmp_path / name
            path.write_bytes(mutate(data, rng))
            # Every other case lets the header decide, so detection is fuzzed as well.
            chosen = fmt if case % 2 else None
            start = time.perf_counter()
            try:
                events = read_events(path, format=chosen).events
                chunks = list(iter_events(path, chunk_size=97, format=chosen))
                np.testing.assert_array_equal(np.concatenate(chunks) if chunks else events[:0], events)
                outcomes["ok"] += 1
            except ValueError:
                outcomes["ValueError"] += 1
            slowest = max(slowest, time.perf_counter() - start)
    total = sum(outcomes.values())
    assert total == len(sources) * CASES_PER_SOURCE >= 1000
    assert outcomes["ValueError"] > total // 4 and outcomes["ok"] > 0        # both paths really exercised
    assert slowest < 2.0, f"a corrupted input took {slowest:.2f} s"
