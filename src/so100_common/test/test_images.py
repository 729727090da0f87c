"""Image <-> numpy with cv_bridge's semantics: encodings, row padding, endianness, zero copy."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from so100_common.core import images


def _msg(**fields):
    base = dict(height=0, width=0, encoding="", is_bigendian=False, step=0, data=b"")
    base.update(fields)
    return SimpleNamespace(**base)


def test_known_bytes_rgb8_with_padding():
    # 2 x 2 rgb8, step 8: 6 pixel bytes and 2 padding bytes per row.
    data = bytes([1, 2, 3, 4, 5, 6, 99, 99, 7, 8, 9, 10, 11, 12, 99, 99])
    msg = _msg(height=2, width=2, encoding="rgb8", step=8, data=data)
    arr = images.to_array(msg)
    np.testing.assert_array_equal(arr, [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]])
    bgr = images.to_array(msg, desired_encoding="bgr8")
    np.testing.assert_array_equal(bgr[0, 0], [3, 2, 1])


def test_known_bytes_16uc1_both_endiannesses():
    little = _msg(height=1, width=2, encoding="16UC1", step=4, data=bytes([0x01, 0x02, 0x03, 0x04]))
    np.testing.assert_array_equal(images.to_array(little), [[0x0201, 0x0403]])
    big = _msg(
        height=1, width=2, encoding="16UC1", step=4, is_bigendian=True, data=bytes([0x01, 0x02, 0x03, 0x04])
    )
    out = images.to_array(big)
    np.testing.assert_array_equal(out, [[0x0102, 0x0304]])
    assert out.dtype.isnative


def test_known_bytes_32fc1():
    data = np.array([[1.5, -2.0], [0.25, np.nan]], dtype="<f4").tobytes()
    arr = images.to_array(_msg(height=2, width=2, encoding="32FC1", step=8, data=data))
    np.testing.assert_array_equal(arr, np.array([[1.5, -2.0], [0.25, np.nan]], dtype=np.float32))


@pytest.mark.parametrize(("encoding", "step"), [("rgb8", 9), ("rgb8", 16), ("16UC1", 6), ("32FC1", 20)])
def test_zero_copy_view_of_the_message_buffer(encoding, step):
    """Native byte order, padded or not: the array is a view of msg.data, not a copy."""
    buf = bytearray(range(2 * step))
    big = images.HOST_IS_BIGENDIAN
    msg = _msg(height=2, width=3, encoding=encoding, step=step, data=buf, is_bigendian=big)
    arr = images.to_array(msg)
    assert arr.shape[:2] == (2, 3)
    assert np.shares_memory(arr, np.frombuffer(buf, np.uint8))
    assert not np.shares_memory(images.to_array(msg, copy=True), np.frombuffer(buf, np.uint8))


def test_fill_image_fields():
    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    msg = images.fill_image(_msg(), arr, "bgr8")
    assert (msg.height, msg.width, msg.encoding, msg.step) == (2, 3, "bgr8", 9)
    assert msg.is_bigendian == images.HOST_IS_BIGENDIAN
    assert bytes(msg.data) == arr.tobytes()


@pytest.mark.parametrize(
    ("arr", "encoding", "match"),
    [
        (np.zeros((2, 2, 3), np.uint8), "yuv422", "unsupported image encoding"),
        (np.zeros((2, 2), np.float64), "32FC1", "needs dtype float32"),
        (np.zeros((2, 2, 3), np.uint8), "mono8", "needs shape"),
        (np.zeros((2, 2), np.uint8), "rgb8", "needs shape"),
        (np.zeros((2, 2, 4), np.uint8), "rgb8", "needs shape"),
    ],
)
def test_fill_image_rejects(arr, encoding, match):
    with pytest.raises(ValueError, match=match):
        images.fill_image(_msg(), arr, encoding)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        (dict(height=2, width=2, encoding="rgb8", step=5, data=bytes(10)), "shorter than a row"),
        (dict(height=2, width=2, encoding="rgb8", step=6, data=bytes(11)), "need 12"),
        (dict(height=1, width=1, encoding="jpeg", step=1, data=bytes(1)), "unsupported"),
    ],
)
def test_to_array_rejects_malformed(fields, match):
    with pytest.raises(ValueError, match=match):
        images.to_array(_msg(**fields))


def test_unsupported_conversion_rejected():
    msg = images.fill_image(_msg(), np.zeros((2, 2), np.uint8), "mono8")
    with pytest.raises(ValueError, match="cannot convert"):
        images.to_array(msg, desired_encoding="rgb8")


def test_with_a_real_sensor_msgs_image():
    image_mod = pytest.importorskip("sensor_msgs.msg", reason="sensor_msgs (ROS wheels) not installed")
    arr = np.random.default_rng(0).integers(0, 255, size=(48, 64, 3), dtype=np.uint8)
    msg = images.fill_image(image_mod.Image(), arr, "rgb8")
    back = images.to_array(msg)
    np.testing.assert_array_equal(back, arr)
    assert np.shares_memory(back, np.frombuffer(msg.data, np.uint8))


@st.composite
def image_cases(draw):
    encoding = draw(st.sampled_from(sorted(images.ENCODINGS)))
    enc = images.ENCODINGS[encoding]
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    shape = (h, w) if enc.channels == 1 else (h, w, enc.channels)
    elements = st.floats(-1e6, 1e6, width=32) if enc.dtype.kind == "f" else None
    arr = draw(arrays(enc.dtype, shape, elements=elements))
    padding = draw(st.integers(0, 7))
    big = draw(st.booleans())
    return encoding, arr, padding, big


@settings(max_examples=300, deadline=None)
@given(image_cases())
def test_round_trip_any_padding_and_byte_order(case):
    """A message written with any padding and byte order reads back as the original array."""
    encoding, arr, padding, big = case
    order = ">" if big else "<"
    rows = arr.astype(arr.dtype.newbyteorder(order)).reshape(arr.shape[0], -1)
    row_bytes = rows.shape[1] * arr.dtype.itemsize
    data = b"".join(r.tobytes() + b"\xab" * padding for r in rows)
    msg = _msg(height=arr.shape[0], width=arr.shape[1], encoding=encoding, is_bigendian=big)
    msg.step, msg.data = row_bytes + padding, data
    out = images.to_array(msg)
    assert out.dtype == arr.dtype
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, arr)
    again = images.to_array(images.fill_image(_msg(), out, encoding))
    np.testing.assert_array_equal(again, arr)
