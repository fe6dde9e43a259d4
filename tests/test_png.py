"""experiments.png.decode_gray_pngs against Pillow, on PNGs written here with each row filter."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from experiments.png import SIGNATURE, decode_gray_pngs


def _paeth(a: int, b: int, c: int) -> int:
    """The PNG specification's Paeth predictor, one byte at a time."""
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filtered_row(row: list[int], above: list[int], kind: int) -> bytes:
    """Scanline `row` under filter `kind` (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth), pixel by pixel."""
    out = [kind]
    for x, value in enumerate(row):
        left, up, upper_left = (row[x - 1] if x else 0), above[x], (above[x - 1] if x else 0)
        predicted = [0, left, up, (left + up) // 2, _paeth(left, up, upper_left)][kind]
        out.append((value - predicted) % 256)
    return bytes(out)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png(image: np.ndarray, filters: list[int], idat_parts: int = 1, bit_depth: int = 8) -> bytes:
    """An 8-bit grayscale PNG of `image` (h, w), row r filtered with filters[r % len(filters)]."""
    height, width = image.shape
    rows, above = [], [0] * width
    for r in range(height):
        row = [int(v) for v in image[r]]
        rows.append(_filtered_row(row, above, filters[r % len(filters)]))
        above = row
    data = zlib.compress(b"".join(rows))
    cut = np.linspace(0, len(data), idat_parts + 1).astype(int)
    idats = b"".join(_chunk(b"IDAT", data[a:b]) for a, b in zip(cut[:-1], cut[1:]))
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0))
    return SIGNATURE + header + _chunk(b"tEXt", b"Comment\x00test") + idats + _chunk(b"IEND", b"")


def test_every_row_filter_matches_pillow_and_the_pixels(rng):
    images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    images[0] = 255  # wrap-around in every filter
    images[1, :, ::2] = 0
    filter_sets = [[0], [1], [2], [3], [4], [4, 3, 2, 1, 0]]
    blobs = [_png(image, filters, idat_parts=1 + i % 3) for i, (image, filters) in enumerate(zip(images, filter_sets))]
    for blob, image in zip(blobs, images):
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(blob))), image)  # the PNGs are valid
    decoded = decode_gray_pngs(blobs)
    assert decoded.dtype == np.uint8 and decoded.shape == (6, 28, 28)
    np.testing.assert_array_equal(decoded, images)


def test_pillow_encoded_pngs(rng):
    images = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    images[:10] //= 7  # smoother images: Pillow picks other filters
    blobs = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        blobs.append(buffer.getvalue())
    np.testing.assert_array_equal(decode_gray_pngs(blobs), images)


def _rgb(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.stack([image] * 3, axis=-1)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("make_bad,message", [
    (lambda img: b"GIF89a" + bytes(40), "PNG 1: not a PNG"),
    (_rgb, r"PNG 1: expected width x height 28x28, 8-bit grayscale, not interlaced; found 28x28, bit depth 8, colour type 2"),
    (lambda img: _png(img[:, :20], [0]), "PNG 1: expected width x height 28x28.*found 20x28"),
    (lambda img: _png(img, [0]).replace(b"IDAT", b"IDAX"), "PNG 1: no IHDR or IDAT chunk"),
    (lambda img: SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
     + _chunk(b"IDAT", b"not zlib") + _chunk(b"IEND", b""), "PNG 1: corrupt image data"),
    (lambda img: SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
     + _chunk(b"IDAT", zlib.compress(bytes([5] + [0] * 28) * 28)) + _chunk(b"IEND", b""),
     r"PNG 1: unknown row filter type 5 \(expected 0-4\)"),
])
def test_refuses_other_or_corrupt_pngs_naming_the_image(make_bad, message, rng):
    image = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    with pytest.raises(ValueError, match=message):
        decode_gray_pngs([_png(image, [1]), make_bad(image)])


def test_needs_an_image():
    with pytest.raises(ValueError, match="at least one PNG, got none"):
        decode_gray_pngs([])
