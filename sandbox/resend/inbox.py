"""The twin's inbox page (GET /): every e-mail it took, newest first, with its text and its HTML shown as sent."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from sandbox.resend.state import StoredEmail

_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#111827;background:#f9fafb}
h1{font-size:20px} .mail{background:#fff;border:1px solid #e5e7eb;border-radius:6px;margin:0 0 16px 0;padding:12px}
.meta{color:#4b5563;font-size:13px;margin:2px 0} .subject{font-size:16px;font-weight:600;margin:0 0 6px 0}
pre{white-space:pre-wrap;background:#f3f4f6;padding:8px;border-radius:4px;font-size:13px}
iframe{width:100%;height:260px;border:1px solid #e5e7eb;border-radius:4px;background:#fff}
details{margin-top:6px}
"""


def inbox_page(emails: Sequence[StoredEmail], *, refresh_seconds: int = 5) -> str:
    """The inbox as one HTML page (it reloads itself every `refresh_seconds`); all e-mail content is escaped, and
    each e-mail's HTML is shown in a sandboxed frame so it cannot run scripts or restyle the page."""
    items = []
    for email in reversed(emails):
        html_part = (
            f'<iframe sandbox="" title="HTML body" srcdoc="{escape(email.html, quote=True)}"></iframe>'
            if email.html
            else "<p class=meta>(no HTML body)</p>"
        )
        items.append(
            f'<div class="mail" id="{escape(email.id, quote=True)}">'
            f'<p class="subject">{escape(email.subject)}</p>'
            f'<p class="meta">To: {escape(", ".join(email.to))} &middot; From: {escape(email.sender)}</p>'
            f'<p class="meta">{escape(email.created_at)} &middot; id {escape(email.id)}</p>'
            f"{html_part}"
            f"<details><summary>Text body</summary><pre>{escape(email.text or '(no text body)')}</pre></details>"
            "</div>"
        )
    listing = "".join(items) or "<p>No e-mails yet.</p>"
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{refresh_seconds}">'
        f"<title>Resend twin inbox ({len(emails)})</title><style>{_STYLE}</style></head><body>"
        f"<h1>Resend twin inbox &middot; {len(emails)} e-mail{'s' if len(emails) != 1 else ''}</h1>"
        f"{listing}</body></html>"
    )
