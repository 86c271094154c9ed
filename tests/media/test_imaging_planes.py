"""The engine resizes luma at full and chroma at half resolution, and decodes plain JPEGs straight to YCbCr:
colour must still land where it belongs (every orientation, odd sizes) and match the RGB path's."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageCms, ImageOps, ImageStat

from core.media.imaging.decode import stored_as_ycbcr
from core.media.imaging.derive import PRESETS, Preset, derive_all
from tests.media.images import encode, exif_with, photo_like, quadrants, swapped_rgb_profile


def colour_blocks(width: int, height: int, block: int = 6, seed: int = 1) -> Image.Image:
    """Random colours in small blocks: chroma that changes every few pixels, so a misplaced colour plane shows."""
    rnd, im = random.Random(seed), Image.new("RGB", (width, height))
    for y in range(0, height, block):
        for x in range(0, width, block):
            im.paste((rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)), (x, y, x + block, y + block))
    return im


def without_jfif(data: bytes) -> bytes:
    """The JPEG without its APP0 (JFIF) segment, as many cameras write them (Exif only)."""
    assert data[2:4] == b"\xff\xe0"
    return data[:2] + data[4 + int.from_bytes(data[4:6], "big") :]


def mean_difference(a: Image.Image, b: Image.Image) -> list[float]:
    """Mean absolute difference per channel, in YCbCr."""
    return list(ImageStat.Stat(ImageChops.difference(a.convert("YCbCr"), b.convert("YCbCr"))).mean)


@pytest.mark.parametrize("size", [(119, 85), (126, 90)], ids=["odd", "even"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_colour_lines_up_with_detail_at_every_orientation_and_size(orientation: int, size: tuple[int, int]) -> None:
    # Against the plain RGB way (rotate, crop and resize all three channels at full resolution, then the same
    # q90 4:2:0 encode): chroma within ~3.5 of 255 on average, where a plane one output pixel off gives ~7.
    source = encode(colour_blocks(241, 161), "PNG", exif=exif_with(orientation).tobytes())
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(source))).convert("RGB")
    preset = Preset("blocks", "test", *size, max_bytes=10**7)
    [d] = derive_all(source, [preset])
    assert (d.width, d.height) == size
    w, h = upright.size  # the largest centred 7:5 box
    cw, ch = (h * preset.ratio, h) if w / h > preset.ratio else (w, w / preset.ratio)
    box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
    reference = Image.open(io.BytesIO(encode(upright.resize(size, Image.Resampling.BICUBIC, box=box), quality=90)))
    luma, cb, cr = mean_difference(Image.open(io.BytesIO(d.data)), reference)
    assert luma < 2.5 and cb < 4.5 and cr < 4.5, (luma, cb, cr)


def test_a_jpeg_decoded_to_ycbcr_gives_what_the_rgb_decode_gives() -> None:
    data = encode(photo_like(1300, 1300), quality=95)
    rgb = encode(Image.open(io.BytesIO(data)).convert("RGB"), "PNG")  # libjpeg's own RGB, then the RGB path
    for a, b in zip(derive_all(data), derive_all(rgb), strict=True):
        assert (a.width, a.height) == (b.width, b.height)
        # The RGB path rounds twice more (YCbCr to RGB and back), and the q90 encode turns those +-1 steps into
        # about one level on average on this grainy photo; YCbCr read as RGB would be off by tens.
        difference = mean_difference(Image.open(io.BytesIO(a.data)), Image.open(io.BytesIO(b.data)))
        assert max(difference) < 2.0, (a.preset, difference)


def test_only_jpegs_whose_colours_pass_unchanged_decode_to_ycbcr() -> None:
    def opened(data: bytes) -> Image.Image:
        return Image.open(io.BytesIO(data))

    photo = quadrants(600, 600)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert stored_as_ycbcr(opened(encode(photo)))  # JFIF
    assert stored_as_ycbcr(opened(without_jfif(encode(photo))))  # component ids 1, 2, 3: a camera's Exif JPEG
    assert stored_as_ycbcr(opened(encode(photo, icc_profile=srgb)))
    assert not stored_as_ycbcr(opened(encode(photo, icc_profile=swapped_rgb_profile())))  # converted in RGB
    assert not stored_as_ycbcr(opened(encode(photo, keep_rgb=True)))  # stored as RGB (Adobe transform 0)
    assert not stored_as_ycbcr(opened(encode(Image.new("L", (64, 64)))))
    assert not stored_as_ycbcr(opened(encode(Image.new("CMYK", (64, 64)))))
    assert not stored_as_ycbcr(opened(encode(photo, "PNG")))


@pytest.mark.parametrize(
    "params",
    [{}, {"keep_rgb": True}, {"icc_profile": swapped_rgb_profile()}],
    ids=["ycbcr", "stored-as-rgb", "other-profile"],
)
def test_every_kind_of_jpeg_keeps_its_colours(params: dict[str, Any]) -> None:
    data = encode(quadrants(1200, 1200), quality=95, **params)
    [d] = derive_all(data, [PRESETS["instagram_square"]])
    im = Image.open(io.BytesIO(d.data))
    swapped = "icc_profile" in params  # red and green trade places under the swapped profile
    top_left = (0, 255, 0) if swapped else (255, 0, 0)
    top_right = (255, 0, 0) if swapped else (0, 255, 0)
    for (x, y), want in (((100, 100), top_left), ((980, 100), top_right), ((100, 980), (0, 0, 255))):
        got = im.getpixel((x, y))
        assert isinstance(got, tuple)
        assert all(abs(g - w) <= 12 for g, w in zip(got, want, strict=True)), (x, y, got, want)


def test_colour_is_not_shifted_on_the_way_through_ycbcr() -> None:
    # Flat patches of random colours, output at the source's own size (no resampling): the only changes left
    # are JPEG's rounding, which averages out over 64 patches. A conversion that truncates instead of rounding
    # (Pillow's convert("YCbCr")) darkens red and blue by about one level on average.
    rnd, patches = random.Random(7), Image.new("RGB", (512, 512))
    for y in range(0, 512, 64):
        for x in range(0, 512, 64):
            patches.paste((rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)), (x, y, x + 64, y + 64))
    for data in (encode(patches, "PNG"), encode(patches, "WEBP", lossless=True)):
        [d] = derive_all(data, [Preset("same", "test", 512, 512, max_bytes=10**7)])
        got = ImageStat.Stat(Image.open(io.BytesIO(d.data)).convert("RGB")).mean
        want = ImageStat.Stat(patches).mean
        assert all(abs(g - w) < 0.35 for g, w in zip(got, want, strict=True)), (got, want)
