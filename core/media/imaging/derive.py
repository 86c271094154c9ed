"""The derivative engine: one upload in, one JPEG per surface preset out. Pure: no database, no HTTP.

`derive_all` decodes once (reduced where the format allows, down to the scale at which every preset's crop
still holds its min_size) into luma and half-resolution chroma planes, then for each preset crops around the
focal point, resizes to the preset's size or what the decoded crop holds (never upscaling), applies the EXIF
orientation to the small result and searches the JPEG quality that fits the provider's byte limit.
`derive_in_pool` runs it off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import io
import multiprocessing
import signal
from collections.abc import Iterable, Sequence
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from core.media.errors import MediaRejected, MediaTransient
from core.media.imaging.decode import TRANSPOSED, SourceInfo, decode, open_source
from core.media.imaging.presets import PRESETS, ImageLimits, Preset

__all__ = [
    "PRESETS",
    "Derivative",
    "ImageLimits",
    "Preset",
    "SourceInfo",
    "derive_all",
    "derive_in_pool",
    "make_image_pool",
    "probe_image",
]

DEFAULT_LIMITS = ImageLimits()
# Bicubic, not Lanczos: the decode is already reduced, so the resizes left scale by 0.8-1.0, where Lanczos costs
# ~1.35x the time for an SSIM 0.002-0.004 closer to a full-scale Lanczos reference (bench/derivatives.py:
# 0.985-0.990 either way, against a bar of 0.98; docs/performance.md#derivatives).
_RESAMPLE = Image.Resampling.BICUBIC
# reduce() by whole factors first, then the filter over the last ≤3x: Pillow's docs call the result
# indistinguishable from a full resize, at a fraction of the cost.
_REDUCING_GAP = 3.0
# JFIF's full-range BT.601 RGB -> YCbCr, what libjpeg uses, as Image.convert's 12-number matrix (the bands of the
# "RGB" result are then Y, Cb and Cr).
_RGB_TO_YCBCR = (0.299, 0.587, 0.114, 0.0, -0.168736, -0.331264, 0.5, 128.0, 0.5, -0.418688, -0.081312, 128.0)
# The transpose that shows stored pixels upright, per EXIF orientation (as ImageOps.exif_transpose does).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True, slots=True)
class Derivative:
    """One encoded output: which preset, the JPEG bytes, its size and the quality it was saved at."""

    preset: str
    data: bytes
    width: int
    height: int
    format: str
    quality: int

    @property
    def byte_size(self) -> int:
        return len(self.data)

    @property
    def mime_type(self) -> str:
        return "image/jpeg" if self.format == "JPEG" else f"image/{self.format.lower()}"


def probe_image(source: bytes | Path, *, limits: ImageLimits = DEFAULT_LIMITS) -> SourceInfo:
    """Check format, file size and pixel count from the header alone (cheap: for upload-time validation)."""
    with open_source(source, limits) as (_, info):
        return info


def derive_all(
    source: bytes | Path,
    presets: Iterable[Preset] | None = None,
    *,
    focal_point: tuple[float, float] = (0.5, 0.5),
    limits: ImageLimits = DEFAULT_LIMITS,
) -> list[Derivative]:
    """Every preset's JPEG from a single decode; raises MediaRejected (bad file) or MediaTransient (I/O)."""
    chosen = list(PRESETS.values()) if presets is None else list(presets)
    fx, fy = focal_point
    if not (0.0 <= fx <= 1.0 and 0.0 <= fy <= 1.0):
        raise ValueError(f"focal_point must be two fractions between 0 and 1, got {focal_point!r}")
    if not chosen:
        return []
    try:
        return _derive(source, chosen, (fx, fy), limits)
    except MemoryError as exc:
        # The pixel limit keeps a single job well inside a worker's memory; running out means the machine
        # is busy with other work, which passes.
        raise MediaTransient(
            "The server ran out of memory preparing this photo; we'll try again.", reason="memory"
        ) from exc


def _derive(
    source: bytes | Path, chosen: list[Preset], focal: tuple[float, float], limits: ImageLimits
) -> list[Derivative]:
    planes, info = _decoded(source, chosen, limits)
    # Each output is the preset's size or, when the (reduced) decode's crop is smaller, the largest
    # exact-aspect size that crop holds: never upscaled, never below the preset's min_size when the source
    # had it (decode picks its scale so).
    upright = (planes.height, planes.width) if info.orientation in TRANSPOSED else planes.size
    sizes = [p.fitted(*upright) for p in chosen]
    # Presets with the same size and aspect (Instagram portrait and Facebook feed) share one resize and,
    # when the encoding fits both byte limits, one encode. Each resized image is dropped after the last
    # preset that needs it, so at most one is alive next to the decoded source (peak memory).
    last_use = {size: i for i, size in enumerate(sizes)}
    shared: dict[tuple[int, int], _Resized] = {}
    results = []
    for i, (preset, size) in enumerate(zip(chosen, sizes, strict=True)):
        if size not in shared:
            shared[size] = _Resized(_resize(planes, info, preset, size, focal), limits.progressive)
        results.append(_fit(shared[size], preset, limits))
        if last_use[size] == i:
            del shared[size]
    return results


def _decoded(source: bytes | Path, chosen: list[Preset], limits: ImageLimits) -> tuple[_Planes, SourceInfo]:
    """The source decoded once (reduced as far as every preset allows) and split into planes; the decoded image
    itself is dropped on return, so only the planes (37.5 % of its memory) stay alive for the resizes."""
    with open_source(source, limits) as (im, info):
        # The provider minimums are checked on the header, so a too-small source fails before any pixel is
        # decoded.
        for preset in chosen:
            _check_provider_min(info, preset)
        return _Planes.of(decode(im, info, chosen, ycbcr=True)), info


@dataclass(frozen=True, slots=True)
class _Planes:
    """A decoded photo the way a JPEG stores it: luma at full resolution, the two chroma planes at half.

    Every output is a 4:2:0 JPEG, whose encoder averages each 2x2 block of chroma anyway, so resizing chroma at
    half resolution loses nothing the file would keep, and takes a quarter of the work; luma, which carries
    the detail, is resized at full resolution exactly as before. One full and two quarter-size one-channel
    resizes, with the merge, cost about 0.6x one RGB resize (docs/performance.md#derivatives)."""

    luma: Image.Image  # "L", the decoded size
    cb: Image.Image  # "L", half the decoded size, rounded up (Image.reduce(2): each is a 2x2 block's mean)
    cr: Image.Image

    @classmethod
    def of(cls, decoded: Image.Image) -> _Planes:
        # RGB (every source but a plain YCbCr JPEG) becomes JPEG's YCbCr through a matrix, which rounds:
        # convert("YCbCr") truncates, and left red and blue about one level darker on average.
        ycc = decoded if decoded.mode == "YCbCr" else decoded.convert("RGB", matrix=_RGB_TO_YCBCR)
        return cls(ycc.getchannel(0), ycc.getchannel(1).reduce(2), ycc.getchannel(2).reduce(2))

    @property
    def size(self) -> tuple[int, int]:
        return self.luma.size

    @property
    def width(self) -> int:
        return self.luma.width

    @property
    def height(self) -> int:
        return self.luma.height


async def derive_in_pool(
    executor: Executor | None,
    source: bytes | Path,
    presets: Iterable[Preset] | None = None,
    *,
    focal_point: tuple[float, float] = (0.5, 0.5),
    limits: ImageLimits = DEFAULT_LIMITS,
) -> list[Derivative]:
    """Await derive_all in `executor` (a process pool; None = the loop's default) so the loop never decodes."""
    chosen = None if presets is None else tuple(presets)  # a tuple of frozen dataclasses pickles cleanly
    call = functools.partial(derive_all, source, chosen, focal_point=focal_point, limits=limits)
    try:
        return await asyncio.get_running_loop().run_in_executor(executor, call)
    except BrokenExecutor as exc:
        # A worker died (often the kernel's OOM killer): the file may be fine; retry on a fresh pool.
        raise MediaTransient("The image worker stopped unexpectedly; we'll try again.", reason="pool_broken") from exc
    except RuntimeError as exc:
        if "shutdown" not in str(exc):
            raise
        raise MediaTransient("The image worker pool is shutting down; we'll try again.", reason="pool_closed") from exc


def make_image_pool(max_workers: int | None = None, *, max_tasks_per_child: int | None = 50) -> ProcessPoolExecutor:
    """A process pool for derive_in_pool: spawned (never forked from a process running an event loop and
    threads) and recycled every `max_tasks_per_child` jobs so fragmented decoder memory is returned."""
    return ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=multiprocessing.get_context("spawn"),
        max_tasks_per_child=max_tasks_per_child,
        initializer=_leave_interrupts_to_the_parent,
    )


def _leave_interrupts_to_the_parent() -> None:
    """Pool workers ignore SIGINT: Ctrl-C reaches the whole process group, and a worker it killed would print a
    traceback and leave the pool half torn down; the parent shuts the pool down in order instead."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _check_provider_min(info: SourceInfo, preset: Preset) -> None:
    """Refuse a source whose crop for this preset is under the provider's own minimum (no upscaling), or
    too small to crop to the preset's aspect at all. The job leaves such presets out beforehand."""
    short = preset.shortfall(info.width, info.height)
    if short is not None:
        raise MediaRejected(short.message, reason="too_small", remedy=short.remedy, preset=preset.name)


def _crop_box(width: int, height: int, ratio: float, focal: tuple[float, float]) -> tuple[float, float, float, float]:
    """The largest box of `ratio` inside widthxheight, centred on the focal point but kept inside the image."""
    if width / height > ratio:
        cw, ch = height * ratio, float(height)
    else:
        cw, ch = float(width), width / ratio
    left = min(max(focal[0] * width - cw / 2, 0.0), width - cw)
    top = min(max(focal[1] * height - ch / 2, 0.0), height - ch)
    return left, top, left + cw, top + ch


def _stored_box(
    box: tuple[float, float, float, float], orientation: int, w: int, h: int
) -> tuple[float, float, float, float]:
    """Map a box in upright coordinates (image w x h as shown) back onto the stored, un-rotated pixels."""
    x0, y0, x1, y1 = box
    (ax, ay), (bx, by) = _stored_point(x0, y0, orientation, w, h), _stored_point(x1, y1, orientation, w, h)
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def _stored_point(x: float, y: float, orientation: int, w: int, h: int) -> tuple[float, float]:
    # The inverse of each _TRANSPOSE entry, for a point of the upright w x h image.
    if orientation == 2:
        return w - x, y
    if orientation == 3:
        return w - x, h - y
    if orientation == 4:
        return x, h - y
    if orientation == 5:
        return y, x
    if orientation == 6:
        return y, w - x
    if orientation == 7:
        return h - y, w - x
    if orientation == 8:
        return h - y, x
    return x, y


def _resize(
    planes: _Planes, info: SourceInfo, preset: Preset, size: tuple[int, int], focal: tuple[float, float]
) -> Image.Image:
    """The preset's crop at `size`, upright, as a YCbCr image whose chroma is constant over each 2x2 block."""
    orientation = info.orientation
    transposed = orientation in TRANSPOSED
    upright_w, upright_h = (planes.height, planes.width) if transposed else planes.size
    width, height = size
    half_w, half_h = max(1, width // 2), max(1, height // 2)
    x0, y0, x1, y1 = box = _crop_box(upright_w, upright_h, preset.ratio, focal)
    # Chroma at half the output's size, each sample then repeated over its 2x2 block, which the 4:2:0 encoder
    # averages back to exactly that sample. The half planes cover the output's whole 2x2 blocks (on an odd side
    # the last column or row takes its neighbour's colour), so their box is the crop's matching part.
    chroma_box = (
        x0,
        y0,
        min(x0 + (x1 - x0) * 2 * half_w / width, upright_w),
        min(y0 + (y1 - y0) * 2 * half_h / height, upright_h),
    )

    def stored(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        return _stored_box(box, orientation, upright_w, upright_h)

    def stored_size(w: int, h: int) -> tuple[int, int]:
        return (h, w) if transposed else (w, h)

    # Crop and resize in one pass straight from the shared decode; rotating only the small result avoids a
    # full-size rotated copy of the source. A box already the output's size is copied, not resampled.
    luma = planes.luma.resize(stored_size(width, height), _RESAMPLE, box=stored(box), reducing_gap=_REDUCING_GAP)
    cx0, cy0, cx1, cy1 = stored(chroma_box)
    half_box = (cx0 / 2, cy0 / 2, cx1 / 2, cy1 / 2)  # the half planes' coordinates
    chroma = [
        plane.resize(stored_size(half_w, half_h), _RESAMPLE, box=half_box, reducing_gap=_REDUCING_GAP)
        for plane in (planes.cb, planes.cr)
    ]
    if orientation in _TRANSPOSE:
        luma = luma.transpose(_TRANSPOSE[orientation])
        chroma = [plane.transpose(_TRANSPOSE[orientation]) for plane in chroma]
    chroma = [_doubled(plane, width, height) for plane in chroma]
    return Image.merge("YCbCr", (luma, *chroma))


def _doubled(plane: Image.Image, width: int, height: int) -> Image.Image:
    """Each sample of a half plane over a 2x2 block, cut or extended to width x height: an odd last column or
    row repeats the one before it."""
    out = plane.resize((plane.width * 2, plane.height * 2), Image.Resampling.NEAREST)
    if out.size == (width, height):
        return out
    grown_w, grown_h = out.size
    out = out.crop((0, 0, width, height))  # anything beyond the doubled plane comes out black: filled below
    if width > grown_w:
        out.paste(out.crop((grown_w - 1, 0, grown_w, height)), (grown_w, 0))
    if height > grown_h:
        out.paste(out.crop((0, grown_h - 1, width, grown_h)), (0, grown_h))
    return out


class _Resized:
    """One resized output and its encodings by settings, so presets sharing a size never encode twice."""

    def __init__(self, image: Image.Image, progressive: bool) -> None:
        self.image = image
        self.progressive = progressive
        self._encoded: dict[tuple[int, str, bool], bytes] = {}

    def encode(self, quality: int, *, subsampling: str = "4:2:0", optimize: bool | None = None) -> bytes:
        # Baseline without Huffman optimisation unless the limits ask for progressive scans: ~3.5 ms a
        # megapixel against ~11 optimised and ~24 progressive, for files 5-11 % larger.
        optimize = self.progressive if optimize is None else optimize
        key = (quality, subsampling, optimize)
        if key not in self._encoded:
            buf = io.BytesIO()
            # Only the keywords below reach the file: no exif=, icc_profile=, xmp= or comment=, and the
            # image's info is empty (to_srgb cleared it), so no metadata of the source survives.
            self.image.save(
                buf,
                "JPEG",
                quality=quality,
                subsampling=subsampling,
                optimize=optimize,
                progressive=optimize and self.progressive,
            )
            self._encoded[key] = buf.getvalue()
        return self._encoded[key]

    def shrunk(self, preset: Preset) -> _Resized:
        ax, ay = preset.aspect
        k = max(1, int(self.image.width * 0.8) // ax)
        return _Resized(self.image.resize((k * ax, k * ay), _RESAMPLE), self.progressive)


def _fit(resized: _Resized, preset: Preset, limits: ImageLimits) -> Derivative:
    """Highest quality <= start_quality under max_bytes (bisecting), shrinking only if even min_quality is over."""
    for _ in range(limits.max_shrinks + 1):
        data = resized.encode(limits.start_quality)
        if len(data) <= preset.max_bytes:
            if len(data) < preset.min_bytes:
                return _pad_up(resized, preset, data, limits.start_quality)
            return _derivative(preset, resized, data, limits.start_quality)
        best: tuple[bytes, int] | None = None
        low, high = limits.min_quality, limits.start_quality - 1
        while low <= high:
            quality = (low + high) // 2
            data = resized.encode(quality)
            if len(data) <= preset.max_bytes:
                best, low = (data, quality), quality + 1
            else:
                high = quality - 1
        if best is not None:
            return _derivative(preset, resized, best[0], best[1])
        resized = resized.shrunk(preset)
    raise MediaRejected(
        f"Couldn't make a {preset.label} version under {preset.max_bytes / 1e6:.1f} MB.",
        reason="cannot_fit",
        preset=preset.name,
    )


def _pad_up(resized: _Resized, preset: Preset, data: bytes, quality: int) -> Derivative:
    # Google refuses photos under 10 KB; a very plain picture can compress below that. Spend bytes on
    # quality (colour stored unsubsampled, then no entropy optimisation) rather than refuse it outright. The
    # colour itself stays at the half resolution _resize makes: this is about the file's size, not its look.
    for q, subsampling, optimize in ((95, "4:4:4", True), (100, "4:4:4", False)):
        data, quality = resized.encode(q, subsampling=subsampling, optimize=optimize), q
        if preset.min_bytes <= len(data) <= preset.max_bytes:
            return _derivative(preset, resized, data, quality)
    raise MediaRejected(
        f"This picture is too plain for {preset.label}: even at full quality it is {len(data) / 1000:.0f} KB, "
        f"under the {preset.min_bytes / 1000:.0f} KB minimum.",
        reason="too_small",
        remedy="use a photo with more detail",
        preset=preset.name,
    )


def _derivative(preset: Preset, resized: _Resized, data: bytes, quality: int) -> Derivative:
    return Derivative(preset.name, data, resized.image.width, resized.image.height, preset.format, quality)


def presets_named(names: Sequence[str]) -> list[Preset]:
    """Look presets up by name, saying which name is unknown."""
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        raise KeyError(f"unknown preset(s) {', '.join(unknown)}; known: {', '.join(PRESETS)}")
    return [PRESETS[n] for n in names]
