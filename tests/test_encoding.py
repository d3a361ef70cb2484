"""Time-to-first-spike encoding: hand-worked spike times, centre-surround, errors, event order."""

from __future__ import annotations

import numpy as np
import pytest

from synaprune.model.config import Config
from synaprune.model.encoding import center_surround, encode, events


def _cfg(shape: tuple[int, int] = (1, 8), *, t: int = 16, on_off: bool = False,
         input_min: int = 1) -> Config:
    n = shape[0] * shape[1] * (2 if on_off else 1)
    return Config(n_inputs=n, n_neurons=8, lanes=2, time_steps=t, image_shape=shape,
                  on_off=on_off, input_min=input_min).validate()


def test_spike_times_t16_by_hand() -> None:
    # t = ((255 - x) * 16) >> 8
    # x=255: 0; x=254: 16 >> 8 = 0; x=240: 240 >> 8 = 0; x=239: 256 >> 8 = 1;
    # x=128: 2032 >> 8 = 7; x=16: 3824 >> 8 = 14; x=1: 4064 >> 8 = 15; x=0: never (16)
    img = np.array([[255, 254, 240, 239, 128, 16, 1, 0]], dtype=np.uint8)
    t = encode(img, _cfg())
    assert t.dtype == np.int16
    assert t.shape == (1, 8)
    assert t.tolist() == [[0, 0, 0, 1, 7, 14, 15, 16]]


def test_spike_times_t8_by_hand() -> None:
    # t = ((255 - x) * 8) >> 8
    # x=255: 0; x=224: 248 >> 8 = 0; x=223: 256 >> 8 = 1; x=128: 1016 >> 8 = 3;
    # x=127: 1024 >> 8 = 4; x=2: 2024 >> 8 = 7; x=1: 2032 >> 8 = 7; x=0: never (8)
    img = np.array([[255, 224, 223, 128, 127, 2, 1, 0]], dtype=np.uint8)
    assert encode(img, _cfg(t=8)).tolist() == [[0, 0, 1, 3, 4, 7, 7, 8]]


def test_spike_times_t1() -> None:
    # T = 1: ((255 - x) * 1) >> 8 = 0 for every x >= 1; 0 never spikes (time 1)
    img = np.array([[255, 1, 0, 77, 0, 3, 200, 9]], dtype=np.uint8)
    assert encode(img, _cfg(t=1)).tolist() == [[0, 0, 1, 0, 1, 0, 0, 0]]


def test_below_input_min_never_spikes() -> None:
    # input_min = 10: 9 and 0 never (16); x=10: 245 * 16 = 3920 >> 8 = 15; x=11: 3904 >> 8 = 15
    # x=255: 0; x=100: 2480 >> 8 = 9
    img = np.array([[9, 10, 11, 0, 255, 100, 5, 1]], dtype=np.uint8)
    t = encode(img, _cfg(input_min=10))
    assert t.tolist() == [[16, 15, 15, 16, 0, 9, 16, 16]]


def test_zero_never_spikes_even_with_input_min_zero() -> None:
    # ((255 - 0) * 16) >> 8 would be 15, but a zero intensity never spikes
    img = np.array([[0, 1, 0, 0, 0, 0, 0, 0]], dtype=np.uint8)
    assert encode(img, _cfg(input_min=0)).tolist() == [[16, 15, 16, 16, 16, 16, 16, 16]]


def test_input_min_255_only_full_intensity_spikes() -> None:
    img = np.array([[255, 254, 0, 128, 255, 1, 2, 3]], dtype=np.uint8)
    assert encode(img, _cfg(input_min=255)).tolist() == [[0, 16, 16, 16, 0, 16, 16, 16]]


def test_flat_and_square_images_agree_and_batch_rows_are_independent() -> None:
    cfg = _cfg((2, 2))
    imgs = np.array([[[255, 0], [128, 1]], [[0, 0], [0, 239]]], dtype=np.uint8)
    square = encode(imgs, cfg)
    flat = encode(imgs.reshape(2, 4), cfg)
    # row 0: 255 -> 0, 0 -> 16, 128 -> 7, 1 -> 15; row 1: 16, 16, 16, 239 -> 1
    assert square.tolist() == [[0, 16, 7, 15], [16, 16, 16, 1]]
    np.testing.assert_array_equal(square, flat)


# ---------------------------------------------------------------------------------------------
# centre-surround
# ---------------------------------------------------------------------------------------------
def test_center_surround_single_bright_pixel() -> None:
    # 3x3 zeros with 80 in the centre. Centre: dog = 9*80 - 80 = 640, ON = 640 >> 3 = 80, OFF 0.
    # Every other pixel has the centre in its neighbourhood: dog = 0 - 80 = -80,
    # ON = clip(-80 >> 3) = 0, OFF = 80 >> 3 = 10
    img = np.zeros((1, 3, 3), dtype=np.uint8)
    img[0, 1, 1] = 80
    on, off = center_surround(img)
    assert on.dtype == np.uint8 and off.dtype == np.uint8
    assert on[0].tolist() == [[0, 0, 0], [0, 80, 0], [0, 0, 0]]
    assert off[0].tolist() == [[10, 10, 10], [10, 0, 10], [10, 10, 10]]


# 2x3 image [[10, 200, 10], [10, 10, 10]], zero padded 3x3 sums:
#   corners (0,0), (0,2), (1,0), (1,2): 10 + 200 + 10 + 10 = 230
#   middles (0,1), (1,1): 10 + 200 + 10 + 10 + 10 + 10 = 250
# dog = 9x - box:
#   (0,1): 1800 - 250 = 1550 -> ON 1550 >> 3 = 193, OFF 0
#   corners: 90 - 230 = -140 -> ON 0, OFF 140 >> 3 = 17
#   (1,1): 90 - 250 = -160 -> ON 0, OFF 160 >> 3 = 20
SMALL = np.array([[[10, 200, 10], [10, 10, 10]]], dtype=np.uint8)
SMALL_ON = [[0, 193, 0], [0, 0, 0]]
SMALL_OFF = [[17, 0, 17], [17, 20, 17]]


def test_center_surround_small_image_by_hand() -> None:
    on, off = center_surround(SMALL)
    assert on[0].tolist() == SMALL_ON
    assert off[0].tolist() == SMALL_OFF


def test_center_surround_uniform_and_extremes() -> None:
    # uniform 100 in 2x2: each 3x3 window (zero padded) holds all four pixels, box = 400,
    # dog = 900 - 400 = 500 -> ON 500 >> 3 = 62, OFF 0
    on, off = center_surround(np.full((1, 2, 2), 100, dtype=np.uint8))
    assert on[0].tolist() == [[62, 62], [62, 62]]
    assert off[0].tolist() == [[0, 0], [0, 0]]
    # 3x3 of 255 with a 0 centre: centre dog = 0 - 8*255 = -2040 -> OFF 255 (largest possible)
    img = np.full((1, 3, 3), 255, dtype=np.uint8)
    img[0, 1, 1] = 0
    on, off = center_surround(img)
    assert off[0, 1, 1] == 255 and on[0, 1, 1] == 0


def test_encode_on_off_by_hand() -> None:
    # flat = ON (6) then OFF (6) = [0,193,0,0,0,0, 17,0,17,17,20,17]
    # 0 -> never (16); 193: 62 * 16 = 992 >> 8 = 3; 17: 238 * 16 = 3808 >> 8 = 14;
    # 20: 235 * 16 = 3760 >> 8 = 14
    cfg = _cfg((2, 3), on_off=True)
    t = encode(SMALL, cfg)
    assert t.shape == (1, 12)
    assert t.tolist() == [[16, 3, 16, 16, 16, 16, 14, 16, 14, 14, 14, 14]]
    assert events(t[0], cfg) == [(3, 1), (14, 6), (14, 8), (14, 9), (14, 10), (14, 11)]


def test_encode_on_off_applies_input_min_to_channels() -> None:
    # input_min = 18: the OFF value 17 no longer spikes, 20 and 193 still do
    cfg = _cfg((2, 3), on_off=True, input_min=18)
    assert encode(SMALL, cfg).tolist() == [[16, 3, 16, 16, 16, 16, 16, 16, 16, 16, 14, 16]]


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.uint16, np.int8])
def test_non_uint8_rejected(dtype: type) -> None:
    with pytest.raises(TypeError, match="uint8"):
        encode(np.zeros((1, 8), dtype=dtype), _cfg())


@pytest.mark.parametrize("shape", [(1, 7), (1, 9), (2, 2, 4), (1, 8, 1), (8,), (1, 1, 2, 4)])
def test_bad_shapes_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="config expects"):
        encode(np.zeros(shape, dtype=np.uint8), _cfg())


def test_on_off_wants_the_raw_image_shape() -> None:
    # with on_off the config has 12 inputs but images are still 2x3 = 6 pixels
    cfg = _cfg((2, 3), on_off=True)
    with pytest.raises(ValueError):
        encode(np.zeros((1, 12), dtype=np.uint8), cfg)
    assert encode(np.zeros((1, 6), dtype=np.uint8), cfg).shape == (1, 12)


# ---------------------------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------------------------
def test_events_ordered_by_time_then_index() -> None:
    cfg = _cfg()
    times = np.array([5, 2, 16, 2, 0, 5, 16, 15], dtype=np.int16)
    assert events(times, cfg) == [(0, 4), (2, 1), (2, 3), (5, 0), (5, 5), (15, 7)]


def test_events_empty_when_nothing_spikes() -> None:
    cfg = _cfg(t=8)
    assert events(np.full(8, 8, dtype=np.int16), cfg) == []


def test_events_of_encoded_image() -> None:
    # from test_spike_times_t16_by_hand: times [0, 0, 0, 1, 7, 14, 15, 16]
    cfg = _cfg()
    img = np.array([[255, 254, 240, 239, 128, 16, 1, 0]], dtype=np.uint8)
    ev = events(encode(img, cfg)[0], cfg)
    assert ev == [(0, 0), (0, 1), (0, 2), (1, 3), (7, 4), (14, 5), (15, 6)]
    assert all(isinstance(a, int) and isinstance(b, int) for a, b in ev)
