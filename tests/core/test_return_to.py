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
