"""The derivative engine on real generated photos: sizes, orientation, colour, metadata, crop, byte limits."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from core.imaging import PRESETS, Derivative, Preset, derive_all, presets_named, probe_image
from core.imaging_decode import needed_size
from core.media_errors import MediaRejected
from tests.media.images import (
    GPS_IFD,
    encode,
    exif_with,
    halves,
    jpeg_markers,
    photo_like,
    quadrants,
    swapped_rgb_profile,
)

RED, BLUE = (230, 20, 20), (20, 20, 230)


def opened(d: Derivative) -> Image.Image:
    im = Image.open(io.BytesIO(d.data))
    im.load()
    return im


def near(pixel: object, colour: tuple[int, ...], tolerance: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


@pytest.fixture(scope="module")
def big_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "big.jpg"
    path.write_bytes(encode(photo_like(3000, 2000), quality=90))
    return path


def test_every_preset_has_its_size_aspect_and_format(big_photo: Path) -> None:
    derivatives = derive_all(big_photo)
    assert [d.preset for d in derivatives] == list(PRESETS)
    for d in derivatives:
        preset = PRESETS[d.preset]
        im = opened(d)
        assert (im.width, im.height) == (d.width, d.height) == (preset.width, preset.height)
        assert im.format == d.format == "JPEG" and d.mime_type == "image/jpeg"
        assert im.mode == "RGB"
        assert im.info.get("progressive") == 1, "outputs are progressive JPEGs"
        assert d.width * preset.aspect[1] == d.height * preset.aspect[0]
        assert preset.min_bytes <= d.byte_size <= preset.max_bytes
        assert d.quality == 90


def test_preset_table_matches_the_provider_rules() -> None:
    table = {name: (p.width, p.height, p.aspect, p.max_bytes) for name, p in PRESETS.items()}
    assert table == {
        "instagram_square": (1080, 1080, (1, 1), 8_000_000),
        "instagram_portrait": (1080, 1350, (4, 5), 8_000_000),
        "facebook_feed": (1080, 1350, (4, 5), 3_999_999),
        "facebook_link": (1200, 630, (40, 21), 3_999_999),
        "story": (1080, 1920, (9, 16), 3_999_999),
        "google_business": (1200, 900, (4, 3), 5_000_000),
    }
    assert PRESETS["google_business"].min_size == (250, 250) and PRESETS["google_business"].min_bytes == 10_000
    # Instagram accepts 4:5 up to 1.91:1; every preset meant for it must sit in that range.
    for name in ("instagram_square", "instagram_portrait", "facebook_link"):
        assert 0.8 <= PRESETS[name].ratio <= 1.91
    assert presets_named(["story"]) == [PRESETS["story"]]
    with pytest.raises(KeyError, match="unknown preset"):
        presets_named(["tiktok"])


def test_exif_rotated_photo_comes_out_upright() -> None:
    # Stored landscape with a red top-left corner; Orientation 6 means "rotate 90° clockwise to show",
    # so upright it is portrait with the red corner at the top right.
    stored = Image.new("RGB", (1500, 1000), (128, 128, 128))
    stored.paste(RED, (0, 0, 300, 300))
    data = encode(stored, exif=exif_with(6).tobytes(), quality=95)
    assert probe_image(data).width == 1000
    [d] = derive_all(data, [Preset("upright", "test", 400, 600, max_bytes=10**7)])
    im = opened(d)
    assert im.size == (400, 600)
    assert near(im.getpixel((390, 10)), RED)
    assert near(im.getpixel((10, 10)), (128, 128, 128))
    assert near(im.getpixel((390, 590)), (128, 128, 128))
    assert not im.getexif(), "orientation is applied, not copied"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_exif_transpose(orientation: int) -> None:
    source = encode(quadrants(240, 160), "PNG", exif=exif_with(orientation).tobytes())
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(source)))
    preset = Preset("whole", "test", expected.width // 2, expected.height // 2, max_bytes=10**7)
    [d] = derive_all(source, [preset])
    got = opened(d)
    for fx, fy in ((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)):
        want = expected.getpixel((int(fx * expected.width), int(fy * expected.height)))
        assert isinstance(want, tuple) and len(want) == 3
        assert near(got.getpixel((int(fx * got.width), int(fy * got.height))), want)


def test_gps_and_all_metadata_are_stripped(big_photo: Path) -> None:
    source = Image.open(big_photo)
    exif = exif_with(1, gps=True)
    data = encode(
        source,
        exif=exif.tobytes(),
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret</x:xmpmeta>',
        comment=b"taken at 51.5N 0.1W",
        quality=90,
    )
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD), "the source really carries GPS"
    for d in derive_all(data):
        im = opened(d)
        assert not im.getexif() and not im.getexif().get_ifd(GPS_IFD)
        assert not {"exif", "xmp", "icc_profile", "comment", "photoshop"} & set(im.info)
        markers = jpeg_markers(d.data)
        assert 0xE0 in markers  # JFIF
        assert not [m for m in markers if 0xE1 <= m <= 0xEF or m == 0xFE], f"APPn/COM left in {d.preset}"
        assert b"PhoneMaker" not in d.data and b"secret" not in d.data and b"51.5N" not in d.data


def test_cmyk_jpeg_converts_to_rgb() -> None:
    data = encode(Image.new("CMYK", (800, 800), (0, 255, 255, 0)), quality=95)  # pure red ink
    [d] = derive_all(data, [PRESETS["instagram_square"]])
    im = opened(d)
    assert im.mode == "RGB" and im.size == (800, 800)
    assert near(im.getpixel((400, 400)), (255, 0, 0))


def test_embedded_icc_profile_is_applied() -> None:
    # Red in a swapped-primaries profile is really green: a converted output shows green.
    data = encode(Image.new("RGB", (600, 600), (255, 0, 0)), "PNG", icc_profile=swapped_rgb_profile())
    [d] = derive_all(data, [PRESETS["instagram_square"]])
    assert near(opened(d).getpixel((300, 300)), (0, 255, 0))


def test_broken_icc_profile_falls_back_to_plain_rgb() -> None:
    data = encode(Image.new("RGB", (600, 600), RED), "PNG", icc_profile=b"not a profile" * 20)
    [d] = derive_all(data, [PRESETS["instagram_square"]])
    assert near(opened(d).getpixel((300, 300)), RED)


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    im = Image.new("I;16", (900, 900), 40000)  # 40000/65535 ≈ 61% grey; clipping would give white
    data = encode(im, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    [d] = derive_all(data, [PRESETS["instagram_square"]])
    out = opened(d)
    assert out.mode == "RGB"
    assert near(out.getpixel((450, 450)), (156, 156, 156), tolerance=4)


def test_rgba_png_is_flattened_on_white() -> None:
    im = Image.new("RGBA", (1200, 1200), (0, 0, 0, 0))
    im.paste((200, 0, 0, 255), (400, 400, 800, 800))
    [d] = derive_all(encode(im, "PNG"), [PRESETS["instagram_square"]])
    out = opened(d)
    assert near(out.getpixel((5, 5)), (255, 255, 255), tolerance=3)
    assert near(out.getpixel((540, 540)), (200, 0, 0))


def test_palette_png_with_transparency_converts() -> None:
    im = Image.new("P", (700, 700), 0)
    im.putpalette([0, 0, 0, 0, 160, 0] + [0] * 762)
    im.paste(1, (200, 200, 500, 500))
    data = encode(im, "PNG", transparency=0)
    assert Image.open(io.BytesIO(data)).mode == "P"
    [d] = derive_all(data, [PRESETS["instagram_square"]])
    out = opened(d)
    assert near(out.getpixel((5, 5)), (255, 255, 255), tolerance=3)
    assert near(out.getpixel((350, 350)), (0, 160, 0))


def test_webp_and_greyscale_sources_work() -> None:
    for data in (encode(photo_like(1300, 1300), "WEBP"), encode(Image.new("L", (1300, 1300), 90), "JPEG")):
        [d] = derive_all(data, [PRESETS["instagram_square"]])
        assert opened(d).mode == "RGB" and (d.width, d.height) == (1080, 1080)


def test_focal_point_moves_the_crop() -> None:
    data = encode(halves(2400, 1200, RED, BLUE), quality=95)
    square = [PRESETS["instagram_square"]]
    [left] = derive_all(data, square, focal_point=(0.0, 0.5))
    [right] = derive_all(data, square, focal_point=(1.0, 0.5))
    [centre] = derive_all(data, square)
    assert near(opened(left).getpixel((540, 540)), RED) and near(opened(left).getpixel((1070, 540)), RED)
    assert near(opened(right).getpixel((10, 540)), BLUE) and near(opened(right).getpixel((540, 540)), BLUE)
    assert near(opened(centre).getpixel((10, 540)), RED) and near(opened(centre).getpixel((1070, 540)), BLUE)
    with pytest.raises(ValueError, match="focal_point"):
        derive_all(data, square, focal_point=(1.5, 0.5))


def test_quality_is_lowered_to_fit_a_small_byte_limit() -> None:
    data = encode(photo_like(1600, 1600, sigma=60), quality=95)
    tight = Preset("tight", "tight", 1080, 1080, max_bytes=150_000)
    [d] = derive_all(data, [tight])
    assert d.byte_size <= 150_000 and d.quality < 90 and (d.width, d.height) == (1080, 1080)
    # The search keeps the best quality that fits: one step up no longer fits.
    [roomier] = derive_all(data, [Preset("roomier", "r", 1080, 1080, max_bytes=d.byte_size * 3)])
    assert roomier.quality > d.quality


def test_an_impossible_byte_limit_shrinks_keeping_the_aspect() -> None:
    [d] = derive_all(encode(photo_like(1400, 1400, sigma=60)), [Preset("tiny", "tiny", 1080, 1350, max_bytes=40_000)])
    assert d.byte_size <= 40_000 and d.width < 1080 and d.width * 5 == d.height * 4


def test_plain_picture_is_padded_up_to_googles_minimum() -> None:
    [d] = derive_all(encode(Image.new("RGB", (1600, 1200), (200, 30, 30))), [PRESETS["google_business"]])
    assert 10_000 <= d.byte_size <= 5_000_000


def test_small_source_is_not_upscaled_and_keeps_an_exact_aspect() -> None:
    data = encode(photo_like(803, 611))
    for d in derive_all(data):
        preset = PRESETS[d.preset]
        assert d.width <= 803 and d.height <= 611
        assert d.width * preset.aspect[1] == d.height * preset.aspect[0], d.preset


def test_source_too_small_for_google_is_rejected_naming_the_surface() -> None:
    data = encode(photo_like(240, 240))
    with pytest.raises(MediaRejected, match="too small for Google Business Profile") as caught:
        derive_all(data)
    assert caught.value.reason == "too_small" and caught.value.extra["preset"] == "google_business"
    [d] = derive_all(data, [PRESETS["instagram_square"]])
    assert (d.width, d.height) == (240, 240)


def test_reduced_decode_still_fills_every_preset(tmp_path: Path) -> None:
    # A PNG has no draft mode: it is decoded in full, reduce()d by 2 (the largest target needs 1200 of its
    # 2600 columns) and each preset still gets its full size.
    path = tmp_path / "big.png"
    path.write_bytes(encode(photo_like(2600, 2600), "PNG", compress_level=1))
    chosen = presets_named(["instagram_square", "facebook_link"])
    assert needed_size(2600, 2600, chosen) == (1200, 1200)
    assert [(d.width, d.height) for d in derive_all(path, chosen)] == [(1080, 1080), (1200, 630)]


def test_needed_size_covers_the_most_demanding_preset() -> None:
    # 6000x4000 landscape: the 9:16 story crop is 2250x4000 and needs 1920 rows, so 0.48 of the source.
    assert needed_size(6000, 4000, list(PRESETS.values())) == (2880, 1920)
    assert needed_size(6000, 4000, [PRESETS["facebook_link"]]) == (1200, 800)
    assert needed_size(800, 600, list(PRESETS.values())) == (800, 600)  # never above the source
