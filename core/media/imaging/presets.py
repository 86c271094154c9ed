"""Derivative presets per publishing surface and the limits the image engine enforces.

Sizes and byte limits come from docs/providers.md (media rules and sizes per provider; mostly third-party
sources; see docs/performance.md and the table there).

Each preset has a recommended `width` x `height` (what we produce when the source allows) and a `min_size`:
the smallest output we accept in exchange for a cheaper decode. The engine decodes a JPEG at 1/2, 1/4 or
1/8 scale (PNG/WebP: `reduce`) whenever every preset's crop still holds its `min_size` at that scale, and
then makes each output at the preset size or, if the decoded crop is smaller, the largest exact-aspect
size it holds: never upscaled. Every `min_size` is at or above the provider's own minimum, so a reduced
decode never produces an output a provider refuses or upscales much:

| preset             | target    | min_size  | provider minimum (docs/providers.md) | why this floor            |
|--------------------|-----------|-----------|--------------------------------------|---------------------------|
| instagram_square   | 1080x1080 | 1000x1000 | width 320 (smaller is scaled up)     | 1000 px long side (a)     |
| instagram_portrait | 1080x1350 | 800x1000  | width 320                            | (a), exact 4:5            |
| facebook_feed      | 1080x1350 | 800x1000  | none published                       | (a), as Instagram 4:5     |
| facebook_link      | 1200x630  | 1000x525  | 600x315 for a large preview          | (a), exact 40:21          |
| story              | 1080x1920 | 540x960   | reels minimum 540x960                | the provider minimum (b)  |
| google_business    | 1200x900  | 1000x750  | 250x250 (smaller: preset left out)   | (a), exact 4:3            |

(a) 1000 px on the long side, our quality floor (well above the provider minimum): a square is within 8 % of
the 1080 px Instagram shows; a 4:5 portrait at 800x1000 is shown about 1.35x enlarged on a 1080 px screen.
(b) 9:16 from a 3:2 photo is a narrow slice: at 1/4 scale a 24 MP photo still gives
558x992, above the reels minimum, where a 1000 px floor would force a 1/2-scale decode (4x the pixels).

A 24-megapixel 6000x4000 photo therefore decodes at 1/4 (1500x1000): square 1000x1000, portrait and feed
800x1000, story 558x992, link and Business Profile at their full 1200x630 and 1200x900.

Byte limits use decimal megabytes, which are smaller than binary ones, so a derivative is inside the limit
whichever unit the provider means.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, gcd

MB = 1_000_000


@dataclass(frozen=True, slots=True)
class Preset:
    """One output a surface accepts: exact pixel size and aspect, JPEG, and the provider's byte bounds."""

    name: str
    label: str
    width: int
    height: int
    max_bytes: int
    min_bytes: int = 0
    # The smallest output we settle for to decode at a reduced scale (None: the target itself, i.e. never
    # reduce below it). Keep it at the preset's exact aspect and at or above provider_min.
    min_size: tuple[int, int] | None = None
    # The smallest output the provider accepts at all; a source whose crop is smaller gets no output for this
    # preset, and the photo can't go to its platform (None: the provider scales small images up itself).
    provider_min: tuple[int, int] | None = None
    format: str = "JPEG"
    # Who sets provider_min, for messages ("Google needs at least 250x250 px").
    provider_name: str = "the platform"

    @property
    def aspect(self) -> tuple[int, int]:
        """The reduced width:height ratio, e.g. (4, 5); outputs smaller than the target keep it exactly."""
        g = gcd(self.width, self.height)
        return (self.width // g, self.height // g)

    @property
    def ratio(self) -> float:
        return self.width / self.height

    @property
    def floor(self) -> tuple[int, int]:
        """min_size, never above the target: what a reduced decode must still give this preset."""
        min_w, min_h = self.min_size or (self.width, self.height)
        return min(min_w, self.width), min(min_h, self.height)

    def fitted(self, width: int, height: int) -> tuple[int, int]:
        """The output this preset gets from an upright width x height image: the target size, or the largest
        exact-aspect size its crop holds (no upscaling)."""
        if width / height > self.ratio:
            crop_w, crop_h = height * self.ratio, float(height)
        else:
            crop_w, crop_h = float(width), width / self.ratio
        if crop_w >= self.width and crop_h >= self.height:
            return self.width, self.height
        # Whole multiples of the reduced ratio keep the aspect exact: Instagram refuses 4:5 plus a rounding error.
        ax, ay = self.aspect
        k = min(int(crop_w // ax), int(crop_h // ay))
        return k * ax, k * ay

    def holds_floor(self, width: int, height: int) -> bool:
        """True when an upright width x height image still gives this preset at least its floor."""
        out_w, out_h = self.fitted(width, height)
        floor_w, floor_h = self.floor
        return out_w >= floor_w and out_h >= floor_h

    def needed(self) -> tuple[int, int]:
        """The smallest exact-aspect output this preset can be sent at (what the source's crop must hold)."""
        ax, ay = self.aspect
        min_w, min_h = self.provider_min or (1, 1)
        k = max(ceil(min_w / ax), ceil(min_h / ay), 1)
        return k * ax, k * ay

    def shortfall(self, width: int, height: int) -> Shortfall | None:
        """Why an upright width x height image can't give this preset (too small for the provider, or for
        even one whole step of the exact aspect), or None when it can."""
        out_w, out_h = self.fitted(width, height)
        need_w, need_h = self.needed()
        if out_w >= need_w and out_h >= need_h:
            return None
        return Shortfall(self, (width, height), (out_w, out_h), (need_w, need_h))


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A preset an image is too small for: its size, the crop it would give, and the smallest crop accepted.

    Outputs keep the preset's exact aspect in whole steps (4:3 is 4k x 3k), so the smallest one Google takes
    at 250x250 is 336x252: a 600x200 banner's 4:3 crop is 264x198, and it needs to be 252 px tall.
    """

    preset: Preset
    source: tuple[int, int]
    crop: tuple[int, int]
    needed: tuple[int, int]

    @property
    def short_sides(self) -> tuple[bool, bool]:
        """(too narrow, too short): which side of the source is under the needed crop's."""
        return self.source[0] < self.needed[0], self.source[1] < self.needed[1]

    @property
    def what(self) -> str:
        """ "too short", "too narrow" or "too small" (both sides), for the platform this preset is for."""
        narrow, short = self.short_sides
        return "too short" if short and not narrow else "too narrow" if narrow and not short else "too small"

    @property
    def platform(self) -> str:
        """The surface's name without its ratio ("Google Business Profile")."""
        return self.preset.label.split(" (")[0]

    @property
    def detail(self) -> str:
        """The constraint in numbers: the crop the source gives and what the provider takes."""
        (cw, ch), p = self.crop, self.preset
        ax, ay = p.aspect
        if p.provider_min is None:
            return f"it can't be cropped to {ax}:{ay}"
        min_w, min_h = p.provider_min
        return f"its {ax}:{ay} crop would be {cw}×{ch} px, and {p.provider_name} needs at least {min_w}×{min_h} px"

    @property
    def message(self) -> str:
        w, h = self.source
        return f"This {w}×{h} px picture is {self.what} for {self.platform}: {self.detail}."

    @property
    def remedy(self) -> str:
        (need_w, need_h), narrow_short = self.needed, self.short_sides
        ax, ay = self.preset.aspect
        if narrow_short == (False, True):
            ask = f"use a photo at least {need_h} px tall"
        elif narrow_short == (True, False):
            ask = f"use a photo at least {need_w} px wide"
        else:
            ask = f"use a photo at least {need_w}×{need_h} px"
        if self.preset.provider_min is None:
            return ask
        return f"{ask} (the smallest {ax}:{ay} crop we can send is {need_w}×{need_h} px)"


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        # Instagram feed: JPEG only, ≤ 8 MB, aspect 4:5 to 1.91:1; it scales widths below 320 up itself,
        # so there is no minimum to reject on. min_size: 1000 px on the long side (see the table above).
        Preset("instagram_square", "Instagram square", 1080, 1080, max_bytes=8 * MB, min_size=(1000, 1000)),
        Preset("instagram_portrait", "Instagram portrait (4:5)", 1080, 1350, max_bytes=8 * MB, min_size=(800, 1000)),
        # Facebook feed: 4:5 rather than 1:1 because it fills the most of a phone screen, the way most
        # pub customers scroll. Photos via the API must be smaller than 4 MB.
        Preset("facebook_feed", "Facebook feed (4:5)", 1080, 1350, max_bytes=4 * MB - 1, min_size=(800, 1000)),
        # Facebook link: 600x315 is the smallest large preview; we keep 1000x525 or more.
        Preset("facebook_link", "Facebook link (1.91:1)", 1200, 630, max_bytes=4 * MB - 1, min_size=(1000, 525)),
        # Instagram and Facebook stories share this file, so Facebook's < 4 MB (stricter than 8 MB) applies.
        # min_size: the reels minimum 540x960, exactly 9:16.
        Preset("story", "Story (9:16)", 1080, 1920, max_bytes=4 * MB - 1, min_size=(540, 960)),
        # Business Profile: 1200x900 (4:3) rather than 720x720 because local posts show a 4:3 card and the
        # LSM guide advises ~4:3; JPEG, 10 KB - 5 MB, at least 250x250.
        Preset(
            "google_business",
            "Google Business Profile (4:3)",
            1200,
            900,
            max_bytes=5 * MB,
            min_bytes=10_000,
            min_size=(1000, 750),
            provider_min=(250, 250),
            provider_name="Google",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What the engine accepts and how hard it tries; picklable so it can cross into a worker process."""

    # Checked from the header before any pixel is decoded (Pillow's own bomb check is ~89 MP and global).
    max_pixels: int = 60_000_000
    max_source_bytes: int = 100 * MB
    start_quality: int = 90
    min_quality: int = 40
    # When even min_quality is over a (custom, tiny) byte limit, shrink the output this many times by 20%.
    max_shrinks: int = 4
    # Progressive (optimised) scans render sooner in browsers (the Library view) but cost ~7x the encode time
    # of a plain baseline JPEG, about 0.1 s for all presets of a 24 MP photo; providers re-encode uploads either
    # way. Off: baseline, not optimised. See docs/performance.md#derivatives.
    progressive: bool = False
