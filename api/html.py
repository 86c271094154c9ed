"""Small server-rendered pages (login confirm, OAuth results): plain HTML, escaped, not cached."""

from __future__ import annotations

from html import escape

from litestar import MediaType, Response

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>{title} · CheersAI</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}
button{{font-size:1.1rem;padding:.6rem 1.4rem;border-radius:.4rem;border:0;background:#b45309;color:#fff}}
.muted{{color:#666}}</style></head><body><h1>{title}</h1>{body}</body></html>"""


def page(title: str, body: str, status: int = 200) -> Response[str]:
    return Response(
        _PAGE.format(title=escape(title), body=body),
        media_type=MediaType.HTML,
        status_code=status,
        # strict-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with the page's own form
        # POST, which require_same_origin refuses; strict-origin still never sends the path (the link's token).
        headers={"Cache-Control": "no-store", "Referrer-Policy": "strict-origin", "X-Frame-Options": "DENY"},
    )


def sign_out_form(csrf_token: str) -> str:
    """The sign-out button: a POST to /auth/logout carrying the session's CSRF token (never a link)."""
    return (
        '<form method="post" action="/auth/logout">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">'
        '<button type="submit">Sign out</button></form>'
    )
