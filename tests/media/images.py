"""Builders for real test images (Pillow writes them; nothing is mocked) and byte-level inspectors."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def encode(im: Image.Image, fmt: str = "JPEG", **params: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def photo_like(width: int, height: int, *, sigma: float = 24.0) -> Image.Image:
    """Gradients plus noise: compresses like a photo rather than like a flat test card."""
    red = Image.linear_gradient("L").resize((width, height))
    green = Image.radial_gradient("L").resize((width, height))
    blue = Image.effect_noise((width, height), sigma)
    return Image.merge("RGB", (red, green, blue))


def halves(width: int, height: int, left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    im = Image.new("RGB", (width, height), left)
    im.paste(right, (width // 2, 0, width, height))
    return im


def quadrants(width: int, height: int) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, yellow bottom-right: any rotation or flip shows."""
    im = Image.new("RGB", (width, height), (255, 255, 0))
    im.paste((255, 0, 0), (0, 0, width // 2, height // 2))
    im.paste((0, 255, 0), (width // 2, 0, width, height // 2))
    im.paste((0, 0, 255), (0, height // 2, width // 2, height))
    return im


def exif_with(orientation: int = 1, *, gps: bool = False) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "PhoneMaker"  # Make
    if gps:
        ifd = exif.get_ifd(GPS_IFD)
        ifd[1] = "N"
        ifd[2] = (51.0, 30.0, 26.0)
        ifd[3] = "W"
        ifd[4] = (0.0, 7.0, 39.0)
    return exif


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR declaring widthxheight, then one tiny IDAT and IEND: a bomb's header
    without the bomb. Decoding it would fail as truncated, so a pixel-limit refusal proves no decode ran."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


def jpeg_markers(data: bytes) -> list[int]:
    """The marker bytes of a JPEG's segments up to the first scan (APPn, COM, DQT, SOF, DHT, ...)."""
    assert data[:2] == b"\xff\xd8"
    markers, pos = [], 2
    while pos < len(data) - 4:
        assert data[pos] == 0xFF, f"bad marker at {pos}"
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    return markers


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def swapped_rgb_profile() -> bytes:
    """An ICC v2 RGB display profile whose red and green primaries are swapped relative to sRGB.

    Pure red in a file tagged with it is really sRGB green, so a correct conversion turns it green:
    an unmistakable sign that the embedded profile was applied (no ICC files ship on the test machine).
    """
    d50 = (0.9642, 1.0, 0.8249)
    red, green, blue = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)

    def xyz(v: tuple[float, float, float]) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + b"".join(_s15(c) for c in v)

    text = b"Swapped test RGB\x00"
    desc = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(text)) + text + b"\x00" * 4 + b"\x00" * 4 + b"\x00" * 70
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, 0x0233) + b"\x00\x00"  # gamma 2.2
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(d50)),
        (b"rXYZ", xyz(green)),
        (b"gXYZ", xyz(red)),
        (b"bXYZ", xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += b"\x00" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = struct.pack(">I4sI4s4s4s", size, b"\x00" * 4, 0x02100000, b"mntr", b"RGB ", b"XYZ ")
    header += b"\x00" * 12 + b"acsp" + b"\x00" * 28 + struct.pack(">I", 0) + b"".join(_s15(c) for c in d50)
    header += b"\x00" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body
