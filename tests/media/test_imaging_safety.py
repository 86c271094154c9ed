"""Hostile and broken inputs fail at once with a typed error and a message a pub manager can act on."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest
from PIL import Image

from core.media.errors import MediaError, MediaRejected, MediaTransient, VideoToolsMissing
from core.media.imaging.decode import heif_supported
from core.media.imaging.derive import ImageLimits, derive_all, probe_image
from tests.media.images import encode, photo_like, png_header_only


def rejected(source: bytes | Path, limits: ImageLimits | None = None) -> MediaRejected:
    with pytest.raises(MediaRejected) as caught:
        derive_all(source, limits=limits or ImageLimits())
    return caught.value


def test_over_the_pixel_limit_is_refused_from_the_header() -> None:
    err = rejected(encode(photo_like(400, 300)), ImageLimits(max_pixels=100_000))
    assert err.reason == "too_many_pixels"
    assert err.message == "This picture is 400×300 (0.12 megapixels); the most we process is 0.1 megapixels."
    assert err.remedy and "resize" in err.remedy


def test_pixel_limit_is_checked_before_any_decoding() -> None:
    # The header declares 30000x20000 but carries 16 bytes of pixel data: decoding would fail as
    # truncated, so "too many pixels" (and the speed) proves nothing was decoded.
    bomb = png_header_only(30_000, 20_000)
    started = time.perf_counter()
    err = rejected(bomb)
    assert err.reason == "too_many_pixels"
    assert err.message == "This picture is 600 megapixels; the most we process is 60 megapixels."
    assert time.perf_counter() - started < 5  # generous: only guards against a 2.4 GB decode
    # Within a raised limit the same file reaches the decoder, which finds it truncated.
    assert rejected(png_header_only(3000, 2000)).reason == "corrupt"


def test_within_our_limit_but_beyond_pillows_own_bomb_limit_is_the_same_clear_refusal() -> None:
    err = rejected(png_header_only(15_000, 15_000), ImageLimits(max_pixels=2_000_000_000))
    assert err.reason == "too_many_pixels" and "225 megapixels" in err.message


def test_truncated_jpeg_is_rejected_as_damaged() -> None:
    data = encode(photo_like(1600, 1200), quality=90)
    err = rejected(data[: len(data) // 2])
    assert err.reason == "corrupt"
    assert err.message.startswith("This JPEG file is damaged or incomplete")


def test_text_file_named_jpg_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "menu.jpg"
    path.write_text("Fish and chips £12.50\n")
    err = rejected(path)
    assert err.reason == "not_an_image" and "whatever its name says" in err.message
    with pytest.raises(MediaRejected):
        probe_image(path)


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert rejected(path).reason == "empty"
    assert rejected(b"").reason == "empty"


def test_source_over_the_byte_limit_is_rejected_before_reading() -> None:
    err = rejected(encode(photo_like(500, 500)), ImageLimits(max_source_bytes=1000))
    assert err.reason == "too_large" and "the most we take" in err.message


@pytest.mark.parametrize(
    ("fmt", "name"), [("GIF", "GIF"), ("BMP", "BMP"), ("TIFF", "TIFF")], ids=["gif", "bmp", "tiff"]
)
def test_formats_outside_the_allow_list_are_named_and_refused(fmt: str, name: str) -> None:
    err = rejected(encode(Image.new("RGB", (300, 300), "red"), fmt))
    assert err.reason == "unsupported_format" and err.message.startswith(f"{name} files aren't accepted")


@pytest.mark.skipif(heif_supported(), reason="pillow-heif is installed here, so HEIC is accepted")
def test_heic_is_refused_when_pillow_heif_is_missing() -> None:
    heic_header = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    err = rejected(heic_header)
    assert err.reason == "unsupported_format" and "HEIC" in err.message
    assert err.remedy and "JPEG" in err.remedy


def test_jpeg_magic_with_garbage_after_is_corrupt() -> None:
    assert rejected(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50).reason == "corrupt"


def test_unreadable_source_is_transient(tmp_path: Path) -> None:
    with pytest.raises(MediaTransient) as caught:
        derive_all(tmp_path / "gone.jpg")
    assert caught.value.reason == "io"
    with pytest.raises(MediaTransient):
        derive_all(tmp_path)  # a directory: an I/O error, not a verdict on the file


@pytest.mark.parametrize("cls", [MediaRejected, MediaTransient, VideoToolsMissing])
def test_errors_survive_pickling_across_a_process_pool(cls: type[MediaError]) -> None:
    err = cls("plain words", reason="why", remedy="what to do", preset="story")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert (back.message, back.reason, back.remedy, back.extra) == (
        "plain words",
        "why",
        "what to do",
        {"reason": "why", "preset": "story"},
    )
