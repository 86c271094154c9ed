"""The repository's documentation stands alone: nothing points outside it, and every link inside it lands.

A clone's readers cannot open the design notes the project started from, so no file may send them there;
the provider facts, the reliability reasoning and the architecture live in docs/. And a doc link that
leads nowhere (a renamed file, a reworded heading) is caught here rather than by a reader.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = frozenset(
    {".git", ".venv", "var", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}
    | {"node_modules", "build", "dist"}
)
MAX_BYTES = 2_000_000

# The design notes outside the repository, and the numbered sections (a section sign and a number) only
# they had. Spelled so that this file does not match them itself (a plain grep for the names stays empty).
OUTSIDE = (
    re.compile(r"shared/[d]esign"),
    re.compile(r"\bARCHITECTURE\.md"),
    re.compile(r"\bRELIABILITY\.md"),
    re.compile(r"provider-[f]acts", re.IGNORECASE),
    re.compile(r"§\s?\d"),
)

FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"`[^`]*`")
# A bare reference to one of our docs with an anchor, in prose or a code comment: docs/providers.md#graph-errors.
BARE_ANCHOR = re.compile(r"(?<![\w/.-])((?:\.\./)*(?:docs/)?[\w.-]+\.md)#([\w-]+)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, …


def _files() -> Iterator[Path]:
    """Every file of the repository, without the virtualenv, caches and local data."""
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(names):
            yield Path(folder, name)


def _text(path: Path) -> str | None:
    if path.stat().st_size > MAX_BYTES:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def _doc_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _outside_code_fences(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) for every line that is not inside a fenced code block."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("*", "")
    kept = "".join(ch for ch in text.lower() if ch.isalnum() or ch in "-_ ")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a markdown page, numbered as GitHub numbers repeated headings."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in _outside_code_fences(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def _check(source: Path, number: int, target: str, anchor: str | None, base: Path) -> str | None:
    """Why `target#anchor` (relative to `base`) leads nowhere, or None when it lands."""
    where = f"{source.relative_to(ROOT)}:{number}: {target}{'#' + anchor if anchor else ''}"
    resolved = (base / target).resolve() if target else source
    if not resolved.is_relative_to(ROOT):
        return f"{where} points outside the repository"
    if not resolved.exists():
        return f"{where} names a file that does not exist"
    if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
        return f"{where} names a heading that {resolved.relative_to(ROOT)} does not have"
    return None


def test_slugs_follow_githubs_rules() -> None:
    assert slug("Outcomes (core/publishing/outcomes.py)") == "outcomes-corepublishingoutcomespy"
    assert slug("A delivery's life: `claimed` → published") == "a-deliverys-life-claimed--published"
    assert slug("Login: fb_exchange_token") == "login-fb_exchange_token"


def test_nothing_refers_to_design_notes_outside_the_repository() -> None:
    """No doc, code comment or config sends a reader to the design notes outside the repository."""
    found = []
    for path in _files():
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if any(p.search(line) for p in OUTSIDE):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not found, (
        "These refer to design notes outside the repository; cite docs/providers.md, docs/reliability.md or "
        "docs/architecture.md and a section anchor instead:\n" + "\n".join(found)
    )


@pytest.mark.parametrize("page", _doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_in_the_docs_lands(page: Path) -> None:
    """Markdown links and bare `page.md#anchor` references name a file here and, for anchors, its heading."""
    problems = []
    for number, line in _outside_code_fences(page.read_text(encoding="utf-8")):
        for link in MARKDOWN_LINK.findall(INLINE_CODE.sub("", line)):
            if EXTERNAL.match(link):
                continue
            target, _, anchor = link.partition("#")
            problems.append(_check(page, number, target, anchor or None, page.parent))
        for target, anchor in BARE_ANCHOR.findall(MARKDOWN_LINK.sub("", line)):
            problems.append(_check(page, number, target, anchor, ROOT if target.startswith("docs/") else page.parent))
    broken = sorted({p for p in problems if p})
    assert not broken, "Broken links:\n" + "\n".join(broken)


def test_code_comments_cite_doc_sections_that_exist() -> None:
    """`docs/providers.md#instagram-containers` in a comment or docstring names a real heading."""
    problems = []
    for path in _files():
        if path.suffix != ".py":
            continue
        text = _text(path) or ""
        for number, line in enumerate(text.splitlines(), start=1):
            for target, anchor in BARE_ANCHOR.findall(line):
                if target.startswith("docs/"):
                    problems.append(_check(path, number, target, anchor, ROOT))
    broken = sorted({p for p in problems if p})
    assert not broken, "Comments citing a doc section that does not exist:\n" + "\n".join(broken)
