"""Derivative presets per publishing surface and the limits the image engine enforces.

Sizes and byte limits come from ../shared/design/provider-facts.md §4.5 and §6 (mostly third-party
sources; see docs/performance.md and the table there). Byte limits use decimal megabytes, which are
smaller than binary ones, so a derivative is inside the limit whichever unit the provider means.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

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
    # The smallest output the provider accepts; a source whose crop is smaller is rejected for this preset.
    min_size: tuple[int, int] | None = None
    format: str = "JPEG"

    @property
    def aspect(self) -> tuple[int, int]:
        """The reduced width:height ratio, e.g. (4, 5); outputs smaller than the target keep it exactly."""
        g = gcd(self.width, self.height)
        return (self.width // g, self.height // g)

    @property
    def ratio(self) -> float:
        return self.width / self.height


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        # Instagram feed: JPEG only, ≤ 8 MB, aspect 4:5 to 1.91:1; it scales widths below 320 up itself,
        # so there is no minimum to reject on.
        Preset("instagram_square", "Instagram square", 1080, 1080, max_bytes=8 * MB),
        Preset("instagram_portrait", "Instagram portrait (4:5)", 1080, 1350, max_bytes=8 * MB),
        # Facebook feed: 4:5 rather than 1:1 because it fills the most of a phone screen, the way most
        # pub customers scroll. Photos via the API must be smaller than 4 MB.
        Preset("facebook_feed", "Facebook feed (4:5)", 1080, 1350, max_bytes=4 * MB - 1),
        Preset("facebook_link", "Facebook link (1.91:1)", 1200, 630, max_bytes=4 * MB - 1),
        # Instagram and Facebook stories share this file, so Facebook's < 4 MB (stricter than 8 MB) applies.
        Preset("story", "Story (9:16)", 1080, 1920, max_bytes=4 * MB - 1),
        # Business Profile: 1200x900 (4:3) rather than 720x720 because local posts show a 4:3 card and the
        # LSM guide advises ~4:3; JPEG, 10 KB - 5 MB, at least 250x250.
        Preset(
            "google_business",
            "Google Business Profile (4:3)",
            1200,
            900,
            max_bytes=5 * MB,
            min_bytes=10_000,
            min_size=(250, 250),
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
    # Progressive scans render sooner in browsers (the Library view) but cost ~2x the encode time of an
    # optimised baseline JPEG; providers re-encode uploads either way. See docs/performance.md.
    progressive: bool = True
