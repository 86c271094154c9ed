"""Where the result page may send people back to: paths on our own site only."""

from __future__ import annotations

import pytest

from core.connections.oauth import safe_return_to
from core.errors import Invalid


@pytest.mark.parametrize("path", ["/planner", "/planner?week=2026-W48", "/"])
def test_relative_paths_on_our_site_are_kept(path: str) -> None:
    assert safe_return_to(path) == path


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "planner", "/\\evil.example", "http:/x"],
)
def test_anything_that_could_leave_the_site_is_refused(target: str) -> None:
    with pytest.raises(Invalid, match="path on this site"):
        safe_return_to(target)


def test_no_return_to_is_fine() -> None:
    assert safe_return_to(None) is None
    assert safe_return_to("") is None


@pytest.mark.parametrize(
    "target",
    ["/\t/evil.example/phish", "/\n/evil.example", "/\r/evil.example", "\n//evil.example", " //evil.example", "/\x00x"],
    ids=["tab", "newline", "carriage-return", "leading-newline", "leading-space", "nul"],
)
def test_control_characters_that_a_browser_would_drop_are_refused(target: str) -> None:
    # Browsers remove tabs and newlines, so "/\t/evil.example" would be followed as "//evil.example".
    with pytest.raises(Invalid, match="control characters"):
        safe_return_to(target)


def test_encoded_slashes_stay_a_path_on_our_site() -> None:
    # Browsers keep "%2F" literal inside a path: this resolves to our own origin, so it is kept as given.
    assert safe_return_to("/%2F%2Fevil.example") == "/%2F%2Fevil.example"
