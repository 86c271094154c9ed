"""Safe image intake: sniff the real format, check size and pixel count from the header, then decode once,
as small as the presets allow, into 8-bit sRGB RGB without alpha or metadata.

Everything here is synchronous and CPU-bound: call it from a worker process (core.media.imaging.derive.derive_in_pool).
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import re
import struct
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from math import ceil
from pathlib import Path
from typing import IO

from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from core.media.errors import MediaRejected, MediaTransient
from core.media.imaging.presets import ImageLimits, Preset

ORIENTATION_TAG = 0x0112
# EXIF orientations 5-8 store the picture sideways: width and height swap when it is shown upright.
TRANSPOSED = frozenset({5, 6, 7, 8})
ALLOWED = ("JPEG", "PNG", "WEBP", "HEIF")
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
# Formats we recognise only to name them in the refusal.
_OTHER_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"GIF8", 0, "GIF"),
    (b"BM", 0, "BMP"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"%PDF", 0, "PDF"),
    (b"avif", 8, "AVIF"),
    (b"<svg", 0, "SVG"),
)
# Decoder failures on a damaged file; OSError with an errno is an I/O problem instead (see _decode_error).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the header says: format, upright (displayed) size, EXIF orientation and the file's size."""

    format: str
    width: int
    height: int
    orientation: int
    mode: str
    byte_size: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def heif_supported() -> bool:
    """True when pillow-heif is installed, so HEIC/HEIF photos (iPhone default) are accepted."""
    return importlib.util.find_spec("pillow_heif") is not None


def sniff(head: bytes) -> str:
    """Name the allowed format from the file's first bytes, or refuse it saying what it looks like."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        if heif_supported():
            return "HEIF"
        raise MediaRejected(
            "This looks like an iPhone HEIC photo, which this server can't read yet.",
            reason="unsupported_format",
            remedy="share it as JPEG (iPhone: Settings → Camera → Formats → Most Compatible), or ask us to enable HEIC",
        )
    for signature, offset, name in _OTHER_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            raise MediaRejected(
                f"{name} files aren't accepted for posts; use a JPEG, PNG or WebP photo.", reason="unsupported_format"
            )
    raise MediaRejected(
        "This file isn't a photo we can read (it is not JPEG, PNG or WebP, whatever its name says).",
        reason="not_an_image",
    )


@contextmanager
def open_source(source: bytes | Path, limits: ImageLimits) -> Iterator[tuple[ImageFile.ImageFile, SourceInfo]]:
    """Open lazily (header only) after the format and size checks; no pixel is decoded here."""
    fh: IO[bytes]
    if isinstance(source, bytes | bytearray | memoryview):
        fh, size = io.BytesIO(source), len(source)
    else:
        try:
            fh = open(source, "rb")  # noqa: SIM115 - closed in the finally below
            size = os.fstat(fh.fileno()).st_size
        except OSError as exc:
            raise MediaTransient(f"Couldn't read the uploaded file ({exc.strerror or exc}).", reason="io") from exc
    try:
        if size == 0:
            raise MediaRejected("The file is empty (0 bytes).", reason="empty", remedy="upload it again")
        if size > limits.max_source_bytes:
            raise MediaRejected(
                f"The file is {size / 1e6:.1f} MB; the most we take is {limits.max_source_bytes / 1e6:.0f} MB.",
                reason="too_large",
            )
        fmt = sniff(_read_head(fh))
        if fmt == "HEIF":
            importlib.import_module("pillow_heif").register_heif_opener()
        try:
            with warnings.catch_warnings():
                # Our own max_pixels check below is the one that counts; Pillow's global one only warns.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(fh, formats=[fmt])
        except Image.DecompressionBombError as exc:
            raise _too_many_pixels(None, limits, str(exc)) from exc
        except UnidentifiedImageError as exc:
            raise MediaRejected(
                f"The file starts like a {fmt} but the rest is damaged, so it can't be opened.", reason="corrupt"
            ) from exc
        except _DECODE_ERRORS as exc:
            raise _decode_error(exc, fmt) from exc
        width, height = im.size
        if width * height > limits.max_pixels:
            raise _too_many_pixels((width, height), limits)
        orientation = _orientation(im)
        if orientation in TRANSPOSED:
            width, height = height, width
        yield im, SourceInfo(fmt, width, height, orientation, im.mode, size)
    finally:
        fh.close()


def decode(im: ImageFile.ImageFile, info: SourceInfo, presets: Sequence[Preset], *, ycbcr: bool = False) -> Image.Image:
    """Decode once at the smallest scale whose crops still hold every preset's min_size, then normalise to sRGB
    RGB. The result may be smaller than some targets: outputs are then made at what its crops hold.

    With `ycbcr`, a JPEG stored as YCbCr with no colour profile to apply comes back as YCbCr, as libjpeg
    decodes it (sRGB's own YCbCr, no metadata): it skips libjpeg's conversion to RGB, and the caller's back."""
    if info.format == "JPEG":
        factor = decode_factor(info.width, info.height, presets, JPEG_DRAFT_FACTORS)
        mode = "YCbCr" if ycbcr and stored_as_ycbcr(im) else None
        if factor > 1 or mode:
            # libjpeg scales by 1/2, 1/4 or 1/8 while decoding: the full-size pixels never exist in memory.
            # Asking for (w // f, h // f) of the stored (possibly sideways) size makes Pillow pick exactly f.
            im.draft(mode, (max(1, im.width // factor), max(1, im.height // factor)))
    try:
        im.load()
    except _DECODE_ERRORS as exc:
        raise _decode_error(exc, info.format) from exc
    out: Image.Image = im
    upright = (out.height, out.width) if info.orientation in TRANSPOSED else out.size
    factor = decode_factor(*upright, presets)
    if factor >= 2:
        # Formats without draft (PNG, WebP) or a draft that stopped short: shrink once by an integer
        # factor so every preset resizes from fewer pixels. Palette and 16-bit modes can't be reduced.
        if out.mode not in _REDUCIBLE:
            out = to_srgb(out)
        out = out.reduce(factor)
    if out.mode == "YCbCr":
        out.info = {}  # EXIF, XMP, comments: nothing of the source may reach an output (no ICC: checked above)
        return out
    return to_srgb(out)


def stored_as_ycbcr(im: Image.Image) -> bool:
    """True for a three-channel JPEG that libjpeg reads as YCbCr (its own guess, jdapimin.c's
    default_decompress_parms: JFIF, else an Adobe marker's transform, else component ids other than R, G, B;
    we also send ids R, G, B to RGB whatever the markers say) and whose colour profile, if any, is sRGB: then
    its YCbCr is sRGB's, and decoding to YCbCr loses nothing. Anything else (RGB-coded, CMYK, greyscale,
    another profile) is decoded to RGB as usual."""
    if im.format != "JPEG" or im.mode != "RGB":
        return False
    icc = im.info.get("icc_profile")
    if icc and not _is_srgb(icc):
        return False
    ids = tuple(component[0] for component in getattr(im, "layer", ()))
    if len(ids) != 3 or ids == (82, 71, 66):  # "R", "G", "B": possibly stored as RGB
        return False
    if "adobe" in im.info and "jfif" not in im.info:
        return im.info.get("adobe_transform") == 1  # 0 is RGB; anything else: leave it to the RGB decode
    return True


# The scales libjpeg decodes at (as divisors), largest first.
JPEG_DRAFT_FACTORS = (8, 4, 2, 1)


def decode_factor(width: int, height: int, presets: Sequence[Preset], factors: Iterable[int] | None = None) -> int:
    """The largest divisor of an upright width x height image (among `factors`; default any integer) after
    which every preset still gets at least its floor (Preset.min_size). 1 when no reduction keeps them all,
    e.g. a source already smaller than a floor."""

    def keeps_all(factor: int) -> bool:
        w, h = ceil(width / factor), ceil(height / factor)  # what libjpeg and reduce() produce
        return all(p.holds_floor(w, h) for p in presets)

    if factors is None:
        best = 1
        while best < min(width, height) and keeps_all(best + 1):
            best += 1
        return best
    return next((f for f in sorted(factors, reverse=True) if f == 1 or keeps_all(f)), 1)


_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "RGBa", "La", "CMYK", "YCbCr", "I", "F"})
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def to_srgb(im: Image.Image) -> Image.Image:
    """8-bit, alpha flattened on white, colour converted to sRGB through the embedded ICC profile, no metadata."""
    icc = im.info.get("icc_profile")
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greys: scale 0-65535 to 0-255 (a plain convert("L") would clip everything above 255).
        im = im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif im.mode == "F":
        im = im.convert("L")
    elif im.mode in ("P", "PA"):
        im = im.convert("RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB")
    elif im.mode == "1":
        im = im.convert("L")
    if im.mode in ("RGBa", "La"):
        im = im.convert("RGBA" if im.mode == "RGBa" else "LA")
    if im.mode in ("RGBA", "LA"):
        base = Image.new(im.mode[:-1], im.size, "white")
        base.paste(im, mask=im.getchannel("A"))
        im = base
    if im.mode not in ("RGB", "L", "CMYK"):
        im = im.convert("RGB")
    if icc and not _is_srgb(icc):
        converted = _convert_profile(im, icc)
        if converted is not None:
            im = converted
    if im.mode != "RGB":
        im = im.convert("RGB")
    im.info = {}  # EXIF, XMP, ICC, comments: nothing of the source may reach an output
    return im


def _convert_profile(im: Image.Image, icc: bytes) -> Image.Image | None:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if im.mode == "RGB":
            ImageCms.profileToProfile(im, source, _SRGB, outputMode="RGB", inPlace=True)
            return im
        return ImageCms.profileToProfile(im, source, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A broken or mismatched profile (say an RGB profile on a CMYK file): fall back to a plain conversion,
        # which is what a browser would show, rather than refuse the photo.
        return None


def _is_srgb(icc: bytes) -> bool:
    try:
        return "srgb" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).lower()
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return False


def _orientation(im: Image.Image) -> int:
    if im.format == "PNG" and "exif" not in im.info:
        # Pillow would decode the whole image looking for an eXIf chunk after the pixel data; the PNG
        # spec puts it before, where the header read has already found it.
        return 1
    try:
        value = im.getexif().get(ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return 1  # unreadable EXIF: show the pixels as stored
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _read_head(fh: IO[bytes]) -> bytes:
    head = fh.read(32)
    fh.seek(0)
    return head


def _too_many_pixels(size: tuple[int, int] | None, limits: ImageLimits, pillow_message: str = "") -> MediaRejected:
    if size:
        what = f"{size[0]}×{size[1]} ({size[0] * size[1] / 1e6:.3g} megapixels)"
    elif found := re.search(r"\((\d+) pixels\)", pillow_message):
        what = f"{int(found.group(1)) / 1e6:.3g} megapixels"  # Pillow's own bomb check names only the count
    else:
        what = "far too many pixels"
    return MediaRejected(
        f"This picture is {what}; the most we process is {limits.max_pixels / 1e6:.3g} megapixels.",
        reason="too_many_pixels",
        remedy="resize it (or export it smaller) and upload again",
    )


def _decode_error(exc: BaseException, fmt: str) -> MediaRejected | MediaTransient:
    if isinstance(exc, OSError) and exc.errno is not None:
        return MediaTransient(f"Couldn't read the uploaded file ({exc.strerror or exc}).", reason="io")
    detail = str(exc).split("(")[0].strip() or exc.__class__.__name__
    return MediaRejected(
        f"This {fmt} file is damaged or incomplete ({detail}), so it can't be used.",
        reason="corrupt",
        remedy="upload the original again; if it was sent through a chat app, send it as a file",
    )
