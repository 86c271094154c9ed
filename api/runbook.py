"""docs/runbook.md as a web page, so an alert's Runbook link (`CHEERS_PUBLIC_URL/ops/runbook#incident-…`) lands.

Headings get the ids GitHub gives them (the ones `core.ops.incidents.runbook_anchor` and the docs' links use); raw
HTML in the file is shown as text, never run.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from markdown_it import MarkdownIt

# Beside the code in a checkout (Procfile deployments, make dev); a wheel has no docs/ (set CHEERS_RUNBOOK_URL).
RUNBOOK = Path(__file__).resolve().parents[1] / "docs" / "runbook.md"

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>Runbook · CheersAI</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222;
line-height:1.5}}code,pre{{background:#f4f4f4;border-radius:.2rem}}pre{{padding:.6rem;overflow-x:auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:.2rem .5rem;vertical-align:top}}
:target{{background:#fff3cd}}</style></head><body>{body}</body></html>"""


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("*", "")
    return "".join(ch for ch in text.lower() if ch.isalnum() or ch in "-_ ").replace(" ", "-")


def render(markdown: str) -> str:
    """The whole page for `markdown`, headings anchored, raw HTML escaped."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(markdown)
    seen: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        base = slug(tokens[i + 1].content)
        count = seen.get(base, 0)
        seen[base] = count + 1
        token.attrSet("id", base if count == 0 else f"{base}-{count}")
    return _PAGE.format(body=md.renderer.render(tokens, md.options, {}))


def missing_page() -> str:
    """What /ops/runbook shows where docs/runbook.md is not beside the code."""
    body = (
        "<h1>No runbook here</h1><p>This installation has no docs/runbook.md. Set "
        f"<code>{escape('CHEERS_RUNBOOK_URL')}</code> to where your runbook lives, so alerts link there.</p>"
    )
    return _PAGE.format(body=body)
