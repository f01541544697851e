"""resize_frames gives what torch.nn.functional.interpolate gives (antialias=False, align_corners=False)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ltsnn.data.functional import resize_frames
from ltsnn.data.functional.resize import resize_weights

SIZES = [(1, 1), (3, 2), (5, 48), (34, 48), (48, 34), (128, 48), (128, 64), (100, 7), (7, 100), (240, 96)]


def torch_resize(frames, size, mode):
    extra = {"align_corners": False, "antialias": False} if mode == "bilinear" else {}
    return F.interpolate(torch.from_numpy(frames), size=size, mode=mode, **extra).numpy()


@pytest.mark.parametrize("n_in, n_out", SIZES)
def test_nearest_picks_the_pixels_torch_picks(n_in, n_out):
    # float32 in both: nearest selects, so the values must match exactly.
    frames = np.random.default_rng(n_in).random((2, 3, n_in, n_in + 3)).astype(np.float32)
    size = (n_out, n_out + 1)
    np.testing.assert_array_equal(resize_frames(frames, size, mode="nearest"), torch_resize(frames, size, "nearest"))


@pytest.mark.parametrize("mode", ["bilinear", "area"])
@pytest.mark.parametrize("n_in, n_out", SIZES)
def test_bilinear_and_area_match_torch_float64(mode, n_in, n_out):
    # Torch in float64 computes the source coordinates nearly exactly; ours are exact.
    frames = np.random.default_rng(n_out).integers(0, 9, (2, 2, n_in, n_in + 2)).astype(np.float64)
    size = (n_out, n_out + 3)
    got = resize_frames(frames, size, mode=mode)
    assert got.dtype == np.float32 and got.shape == (2, 2, *size)
    np.testing.assert_allclose(got, torch_resize(frames, size, mode), rtol=1e-6, atol=1e-6)


def test_torch_float32_bilinear_differs_by_its_coordinate_rounding_only():
    # Torch's float32 kernel rounds the source coordinate c (~1e-5 px near c = 128); values stay within that.
    frames = np.random.default_rng(0).integers(0, 9, (2, 2, 128, 128)).astype(np.float32)
    got = resize_frames(frames, (48, 48), mode="bilinear")
    np.testing.assert_allclose(got, torch_resize(frames, (48, 48), "bilinear"), rtol=0, atol=8 * 2e-5)


def test_area_integer_factor_is_the_block_mean():
    frames = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    expected = frames.reshape(2, 2, 2, 3, 2).mean(axis=(2, 4))
    np.testing.assert_array_equal(resize_frames(frames, (2, 3), mode="area"), expected)


def test_bilinear_weights_by_hand():
    # 4 -> 3: c = (i + 0.5) * 4/3 - 0.5 = 1/6, 3/2, 17/6 -> rows (5/6, 1/6 | 1/2, 1/2 | 1/6, 5/6) over 12ths.
    weights, denominators = resize_weights(4, 3, "bilinear")
    assert denominators.tolist() == [6, 6, 6]
    assert weights.tolist() == [[5, 1, 0, 0], [0, 3, 3, 0], [0, 0, 1, 5]]
    # Upsampling 2 -> 4: c = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (the border pixel repeats).
    weights, denominators = resize_weights(2, 4, "bilinear")
    assert weights.tolist() == [[8, 0], [6, 2], [2, 6], [0, 8]] and denominators.tolist() == [8] * 4


def test_integer_frames_resize_exactly():
    # Exact arithmetic: area-resizing 3x3 blocks of integer counts gives sums / 9 rounded once.
    frames = np.random.default_rng(1).integers(0, 1000, (1, 1, 9, 9)).astype(np.float32)
    got = resize_frames(frames, (3, 3), mode="area")
    expected = (frames.astype(np.float64).reshape(3, 3, 3, 3).sum(axis=(1, 3)) / 9).astype(np.float32)
    np.testing.assert_array_equal(got[0, 0], expected)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown mode 'bicubic'"):
        resize_frames(np.zeros((2, 4, 4)), (2, 2), mode="bicubic")
    with pytest.raises(ValueError, match=r"size is \(2,\)"):
        resize_frames(np.zeros((2, 4, 4)), (2,), mode="area")
    with pytest.raises(ValueError, match="expected \\[..., H, W\\]"):
        resize_frames(np.zeros(4), (2, 2), mode="area")


@pytest.mark.parametrize("mode", ["area", "bilinear", "nearest"])
def test_identity_size_keeps_frames(mode):
    frames = np.random.default_rng(2).random((3, 5, 7)).astype(np.float32)
    np.testing.assert_array_equal(resize_frames(frames, (5, 7), mode=mode), frames)

