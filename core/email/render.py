"""E-mail bodies: one plain-text and one HTML version of the same lines, every piece of text escaped in the HTML."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

FOOTER = "Sent by CheersAI."


def email_bodies(title: str, lines: Sequence[str], link: tuple[str, str] | None = None) -> tuple[str, str]:
    """(text, html) for a title, its lines and an optional (label, url) link; the HTML escapes all of them."""
    text_parts = [title, "", *lines]
    if link is not None:
        label, url = link
        text_parts += ["", f"{label}: {url}"]
    text_parts += ["", "--", FOOTER]
    text = "\n".join(text_parts).strip() + "\n"

    paragraphs = "".join(f'<p style="margin:0 0 8px 0">{escape(line)}</p>' for line in lines if line.strip())
    button = ""
    if link is not None:
        label, url = link
        button = (
            f'<p style="margin:16px 0"><a href="{escape(url, quote=True)}" '
            'style="background:#1d4ed8;color:#ffffff;padding:8px 14px;border-radius:4px;text-decoration:none">'
            f"{escape(label)}</a></p>"
        )
    html = (
        "<!doctype html>"
        '<html><body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#111827">'
        f'<h2 style="font-size:18px;margin:0 0 12px 0">{escape(title)}</h2>'
        f"{paragraphs}{button}"
        f'<p style="color:#6b7280;font-size:12px;margin-top:24px">{escape(FOOTER)}</p>'
        "</body></html>"
    )
    return text, html
