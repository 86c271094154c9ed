"""The derivative engine on real generated photos: sizes, orientation, colour, metadata, crop, byte limits."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from core.media.errors import MediaRejected
from core.media.imaging.decode import JPEG_DRAFT_FACTORS, decode_factor
from core.media.imaging.derive import (
    PRESETS,
    Derivative,
    ImageLimits,
    Preset,
    derive_all,
    presets_named,
    probe_image,
)
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


def assert_within_provider_rules(d: Derivative, source_size: tuple[int, int] | None = None) -> None:
    """What a provider and a viewer see: exact aspect, between min_size and the target, inside the limits."""
    preset = PRESETS[d.preset]
    ax, ay = preset.aspect
    assert d.width * ay == d.height * ax, f"{d.preset}: {d.width}x{d.height} is not exactly {ax}:{ay}"
    assert d.width <= preset.width and d.height <= preset.height, f"{d.preset} is above its target"
    if source_size is None or all(p.holds_floor(*source_size) for p in PRESETS.values()):
        floor_w, floor_h = preset.floor
        assert d.width >= floor_w and d.height >= floor_h, f"{d.preset}: {d.width}x{d.height} under its min_size"
    if preset.provider_min:
        assert d.width >= preset.provider_min[0] and d.height >= preset.provider_min[1]
    if preset.name.startswith("instagram"):
        assert 320 <= d.width <= 1440 and 0.8 <= d.width / d.height <= 1.91
    if preset.name == "story":
        assert d.width >= 540 and d.height >= 960  # the reels minimum
    if preset.name == "facebook_link":
        assert d.width >= 600 and d.height >= 315  # the large-preview minimum
    assert preset.min_bytes <= d.byte_size <= preset.max_bytes


def test_every_preset_has_its_size_aspect_and_format(big_photo: Path) -> None:
    derivatives = derive_all(big_photo)
    assert [d.preset for d in derivatives] == list(PRESETS)
    for d in derivatives:
        preset = PRESETS[d.preset]
        im = opened(d)
        assert (im.width, im.height) == (d.width, d.height)
        assert_within_provider_rules(d, (3000, 2000))
        assert im.format == d.format == "JPEG" and d.mime_type == "image/jpeg"
        assert im.mode == "RGB"
        # Baseline since issue 18 (providers re-encode; progressive cost ~7x the encode time): an intended change.
        assert not im.info.get("progressive"), "outputs are baseline JPEGs unless ImageLimits.progressive"
        assert d.width * preset.aspect[1] == d.height * preset.aspect[0]
        assert preset.min_bytes <= d.byte_size <= preset.max_bytes
        assert d.quality == 90
    [square] = derive_all(big_photo, [PRESETS["instagram_square"]], limits=ImageLimits(progressive=True))
    assert opened(square).info.get("progressive") == 1, "ImageLimits(progressive=True) still gives progressive scans"


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
    google = PRESETS["google_business"]
    assert google.provider_min == (250, 250) and google.min_bytes == 10_000
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
    # A PNG has no draft mode: it is decoded in full, then reduce()d by 2 (1300x1300 still holds the square's
    # and the link's full targets) and each preset still gets its full size.
    path = tmp_path / "big.png"
    path.write_bytes(encode(photo_like(2600, 2600), "PNG", compress_level=1))
    chosen = presets_named(["instagram_square", "facebook_link"])
    assert decode_factor(2600, 2600, chosen) == 2
    assert [(d.width, d.height) for d in derive_all(path, chosen)] == [(1080, 1080), (1200, 630)]


def test_a_source_just_under_the_reduction_point_decodes_in_full_and_gives_every_target() -> None:
    # At 1/2 a 1900x1900 photo would be 950 px, under the square's 1000 px floor: no reduction, so every
    # preset gets its full target, except the story, whose 9:16 slice of a square is only 1068x1900.
    assert decode_factor(1900, 1900, list(PRESETS.values()), JPEG_DRAFT_FACTORS) == 1
    data = encode(photo_like(1900, 1900), quality=90)
    for d in derive_all(data):
        preset = PRESETS[d.preset]
        want = (1062, 1888) if d.preset == "story" else (preset.width, preset.height)
        assert (d.width, d.height) == want, d.preset
        assert_within_provider_rules(d, (1900, 1900))


def test_a_24_megapixel_photo_decodes_at_a_quarter_and_stays_within_the_rules(tmp_path: Path) -> None:
    # 6000x4000 at 1/4 is 1500x1000: every preset's crop still holds its min_size (the story's 9:16 slice
    # is 562x1000, above the reels minimum 540x960), so no preset forces a larger decode.
    presets = list(PRESETS.values())
    assert decode_factor(6000, 4000, presets, JPEG_DRAFT_FACTORS) == 4
    assert decode_factor(4000, 6000, presets, JPEG_DRAFT_FACTORS) == 4  # portrait phone photos too
    path = tmp_path / "24mp.jpg"
    path.write_bytes(encode(photo_like(6000, 4000, sigma=8), quality=80))
    sizes = {d.preset: (d.width, d.height) for d in derive_all(path)}
    assert sizes == {
        "instagram_square": (1000, 1000),
        "instagram_portrait": (800, 1000),
        "facebook_feed": (800, 1000),
        "facebook_link": (1200, 630),  # the 1500x787 crop still holds the full target
        "story": (558, 992),  # 62 x (9, 16): the largest exact 9:16 inside the 562x1000 crop
        "google_business": (1200, 900),
    }


def test_decode_factor_keeps_every_floor_and_never_reduces_a_small_source() -> None:
    presets = list(PRESETS.values())
    for width, height in ((6000, 4000), (4000, 6000), (3000, 2000), (8000, 2000), (2600, 2600), (12000, 5000)):
        factor = decode_factor(width, height, presets, JPEG_DRAFT_FACTORS)
        decoded = (-(-width // factor), -(-height // factor))
        assert all(p.holds_floor(*decoded) for p in presets), (width, height)
        if factor < 8:  # the next scale down would lose a floor
            twice = (-(-width // (factor * 2)), -(-height // (factor * 2)))
            assert not all(p.holds_floor(*twice) for p in presets), (width, height)
    assert decode_factor(800, 600, presets) == 1  # already under the floors: never reduced
    assert decode_factor(6000, 4000, [PRESETS["facebook_link"]]) == 6  # 1000x667 still holds 1000x525
    # A custom preset without min_size keeps the old rule: never decode below its target.
    exact = Preset("exact", "exact", 1080, 1920, max_bytes=10**7)
    assert decode_factor(6000, 4000, [exact], JPEG_DRAFT_FACTORS) == 2


def test_preset_min_sizes_are_exact_aspect_and_above_the_provider_minimums() -> None:
    provider_minimums = {
        "instagram_square": (320, 320),
        "instagram_portrait": (320, 400),
        "facebook_feed": (320, 400),
        "facebook_link": (600, 315),
        "story": (540, 960),
        "google_business": (250, 250),
    }
    for name, preset in PRESETS.items():
        assert preset.min_size is not None
        min_w, min_h = preset.min_size
        assert min_w * preset.aspect[1] == min_h * preset.aspect[0], name
        assert min_w <= preset.width and min_h <= preset.height, name
        assert min_w >= provider_minimums[name][0] and min_h >= provider_minimums[name][1], name
