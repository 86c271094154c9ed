"""Which platforms a photo can go to, worked out from its upright size and the preset table (pure).

A preset the photo is too small for is left out when its derivatives are made (core.media.jobs), and the
photo is still `ready` for every other platform. The library view lists where it can't go and the post rules
refuse a post that sends it there; both ask this module, so they say the same thing with the same numbers.
Nothing is stored: the answer follows from the asset's width and height.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.media.imaging.presets import PRESETS
from storage.enums import Provider

PLATFORM_NAMES = {
    Provider.facebook: "Facebook",
    Provider.instagram: "Instagram",
    Provider.google_business: "Google Business Profile",
}
# The photo surfaces CheersAI publishes to (core.posts.rules refuses the others; reels are videos only).
PHOTO_SURFACES: dict[Provider, tuple[str, ...]] = {
    Provider.facebook: ("feed",),
    Provider.instagram: ("feed", "story"),
    Provider.google_business: ("feed",),
}


@dataclass(frozen=True)
class Unusable:
    """A platform and surface a photo is too small for, why (with the numbers) and what to do."""

    provider: Provider
    surface: str
    preset: str
    reason: str
    remedy: str

    @property
    def platform(self) -> str:
        return PLATFORM_NAMES[self.provider]


def image_preset(provider: Provider, surface: str, width: int | None, height: int | None) -> str:
    """The derivative preset a photo of this upright size is sent as on this provider and surface."""
    if surface == "story":
        return "story"
    if provider is Provider.instagram:
        return "instagram_portrait" if (height or 0) > (width or 0) else "instagram_square"
    if provider is Provider.google_business:
        return "google_business"
    return "facebook_feed"


def unusable_on(provider: Provider, surface: str, width: int | None, height: int | None) -> Unusable | None:
    """Why a width x height photo can't be sent to this provider and surface, or None when it can (or when
    its size is not known yet: it is only read once the photo is prepared)."""
    if not width or not height:
        return None
    preset = PRESETS[image_preset(provider, surface, width, height)]
    short = preset.shortfall(width, height)
    if short is None:
        return None
    reason = f"This {width}×{height} px picture is {short.what} for {PLATFORM_NAMES[provider]}: {short.detail}."
    return Unusable(provider, surface, preset.name, reason, short.remedy)


def unusable_for(width: int | None, height: int | None) -> list[Unusable]:
    """Every platform and photo surface a width x height photo can't be sent to, in a stable order."""
    found = (unusable_on(p, s, width, height) for p, surfaces in PHOTO_SURFACES.items() for s in surfaces)
    return [u for u in found if u is not None]
