"""Fuzz: every reader on >= 5,000 corrupted inputs raises only the documented errors, and never hangs.

Inputs are small prefixes of the real fixtures (and files written in the layouts with no real
fixture: AEDAT 2.0 / 3.1, CIFAR10-DVS, AEDAT 4, a DAT with a stated size, and recordings whose
timestamp counter wraps), corrupted by seeded truncations, bit flips, byte overwrites, header
damage, insertions, deletions and header numbers made huge. What a read that succeeds gives is
checked too: no 32-bit wrap invented by a corrupted timestamp (issue 14, finding 5), no negative
AEDAT 4 time, no stated sensor side above MAX_SENSOR_SIDE (finding 7).
"""

import time

import numpy as np
import pytest

from ltsnn.data import make_events
from ltsnn.data.io import MAX_SENSOR_SIDE, iter_events, read_events

import io_encoders as enc

CASES_PER_SOURCE = 400
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
    wrapping = ((t + (1 << 32) - 50_000) % (1 << 32)).tolist()         # the counter wraps half-way
    highs = [4090 + i for i in range(6)] + list(range(6))                  # EVT 3.0's 24-bit counter wraps
    evt3_words = [enc.evt3_addr_y(7)]
    for i, high in enumerate(highs):
        evt3_words += [enc.evt3_time_high(high), enc.evt3_time_low(i), enc.evt3_addr_x(i, 1), enc.evt3_addr_y(i)]
    return [("written.aedat", "aedat", enc.aedat2(list(zip(addresses, t.tolist())), chip="DVS128")),
            ("written31.aedat", "aedat", enc.aedat31(packets)),
            ("cifar.aedat", "cifar10dvs", enc.aedat2(list(zip(addresses, t.tolist())))),
            ("wrap.aedat", "cifar10dvs", enc.aedat2(list(zip(addresses, wrapping)))),
            ("wrap.raw", "evt3", enc.raw_file(["evt 3.0", "geometry 1280x720"], evt3_words, "<u2")),
            ("sized.dat", "dat", enc.dat(events[:100], header=b"% Width 640\n% Height 480\n")),
            ("written.aedat4", "aedat4", enc.aedat4([events[:150], events[150:]]))]


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    kind = rng.integers(0, 7)
    if kind == 6:                                                      # a header number made huge (size bombs)
        digits = [i for i in range(min(len(buf), 512)) if 0x30 <= buf[i] <= 0x39]
        if digits:
            i = digits[rng.integers(0, len(digits))]
            buf[i:i + 1] = str(rng.choice([8193, 11000, 65535, 999999])).encode()
            return bytes(buf)
        kind = 1
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


@pytest.mark.slow            # 5 s with numba, 20 s on the numpy path
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
                recording = read_events(path, format=chosen)
                events = recording.events
                chunks = list(iter_events(path, chunk_size=97, format=chosen))
                np.testing.assert_array_equal(np.concatenate(chunks) if chunks else events[:0], events)
                assert recording.sensor_size is None or max(recording.sensor_size) <= MAX_SENSOR_SIDE
                if fmt in ("aedat", "cifar10dvs") and len(events):       # every source spans < 2^32 µs
                    assert events["t"][-1] - events["t"][0] < 1 << 32, f"{name} case {case}: a false wrap"
                if fmt == "aedat4":
                    assert (events["t"] >= 0).all(), f"{name} case {case}: a negative time"
                outcomes["ok"] += 1
            except ValueError:
                outcomes["ValueError"] += 1
            slowest = max(slowest, time.perf_counter() - start)
    total = sum(outcomes.values())
    assert total == len(sources) * CASES_PER_SOURCE >= 5000
    assert outcomes["ValueError"] > total // 4 and outcomes["ok"] > 0        # both paths really exercised
    assert slowest < 2.0, f"a corrupted input took {slowest:.2f} s"
