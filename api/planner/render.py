"""Rendering planner pages: the Jinja set-up, `render()` (layout context), flash messages and toasts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.exceptions import NoRouteMatchFoundException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from api.planner.auth import VENUE_COOKIE, Viewer
from core.settings import Settings
from storage.models import Role

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"
FLASH_COOKIE = "cheers_flash"
FLASH_SALT = "cheers.flash"
VENUE_COOKIE_MAX_AGE = 400 * 24 * 3600  # browsers cap cookie lifetimes at 400 days
# Pages in the navigation, by route name; one shows only once its route is registered (no dead links).
NAV: tuple[tuple[str, str], ...] = (
    ("Week", "planner.week"),
    ("New post", "planner.compose"),
    ("Library", "planner.library"),
    ("Alerts", "planner.alerts"),
    ("Weekly plan", "planner.weekly"),
    ("Connections", "planner.connections"),
    ("Chat", "planner.chat"),
    ("Team", "planner.team"),
)
# Pages only some roles may open: their nav entry is left out for the others (the page itself still refuses, 403).
NAV_ROLES: dict[str, Role] = {"planner.compose": Role.editor}
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}

ToastKind = Literal["ok", "info", "warning", "error"]


@dataclass(frozen=True)
class Toast:
    """A short outcome message ("Retry queued"), shown once in the page's toasts region."""

    message: str
    kind: ToastKind = "ok"


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja over api/templates, autoescaping everything; an undefined variable is a bug, not an empty string."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined, trim_blocks=True
    )
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.cheers_secret_key, salt=FLASH_SALT)


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


def flash_cookie(request: Request[Any, Any, Any], toasts: list[Toast]) -> Cookie:
    """A signed, short-lived cookie carrying toasts across a redirect (without JS, a form post redirects)."""
    value = _serializer(_settings(request)).dumps([[t.message, t.kind] for t in toasts])
    return Cookie(
        key=FLASH_COOKIE,
        value=value,
        httponly=True,
        secure=_settings(request).secure_cookies,
        samesite="lax",
        max_age=300,
        path="/planner",
    )


def pending_toasts(request: Request[Any, Any, Any]) -> list[Toast]:
    """The toasts a redirect left for this page; a tampered cookie is ignored."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        items = _serializer(_settings(request)).loads(raw)
    except BadSignature:
        return []
    kinds = {"ok", "info", "warning", "error"}
    return [Toast(str(m), k) for m, k in items if k in kinds] if isinstance(items, list) else []


def route_path(request: Request[Any, Any, Any], name: str, **params: int) -> str | None:
    """A planner route's path, or None while that page is not part of the app (no dead links or buttons)."""
    try:
        return request.app.route_reverse(name, **params)
    except NoRouteMatchFoundException:
        return None


def nav_entries(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    """The navigation: each page whose route exists, marked current when this request is on it."""
    entries = []
    viewer = _viewer(request)
    for label, name in NAV:
        if name in NAV_ROLES and (viewer is None or not viewer.can(NAV_ROLES[name])):
            continue
        path = route_path(request, name)
        if path is None:
            continue
        here = request.url.path  # "/planner/weekly" is not under "/planner/week": compare whole path segments
        entries.append({"label": label, "href": path, "current": here == path or here.startswith(f"{path}/")})
    return entries


def _viewer(request: Request[Any, Any, Any]) -> Viewer | None:
    viewer: Viewer | None = getattr(request.state, "planner_viewer", None)
    return viewer


def render(
    request: Request[Any, Any, Any], template: str, *, title: str, status_code: int = 200, **context: Any
) -> Template:
    """A planner page: `template` with the layout's context (person, venues, current venue, CSRF token, toasts)."""
    viewer = _viewer(request)
    toasts = pending_toasts(request) + list(context.pop("toasts", []))
    page_context = {
        "title": title,
        "viewer": viewer,
        "person": viewer.user if viewer else None,
        "venue": viewer.venue if viewer else None,
        "venues": viewer.venues if viewer else [],
        "csrf_token": viewer.csrf_token if viewer else context.pop("csrf_token", ""),
        "nav": nav_entries(request) if viewer else [],
        "toasts": toasts,
        "here": request.url.path,
        **context,
    }
    cookies: list[Cookie] = []
    if viewer is not None and viewer.venue_chosen:
        cookies.append(
            Cookie(
                key=VENUE_COOKIE,
                value=str(viewer.account_id),
                httponly=True,
                secure=_settings(request).secure_cookies,
                samesite="lax",
                max_age=VENUE_COOKIE_MAX_AGE,
                path="/",
            )
        )
    response = Template(
        template_name=template,
        context=page_context,
        status_code=status_code,
        headers=PAGE_HEADERS,
        cookies=cookies,
        media_type="text/html",
    )
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/planner")  # shown once
    return response


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    """An htmx request (HX-Request header): it wants a fragment, not a whole page or a redirect."""
    return request.headers.get("hx-request") == "true"


def outcome(
    request: Request[Any, Any, Any], message: str, *, redirect_to: str, kind: ToastKind = "ok"
) -> Response[Any]:
    """The answer to a planner form post: with htmx a toast fragment; without JS a 303 and a flash toast."""
    toast = Toast(message, kind)
    if is_htmx(request):
        return Template(
            template_name="planner/_toast.html",
            context={"toast": toast},
            headers={**PAGE_HEADERS, "HX-Trigger": json.dumps({"cheers:outcome": {"kind": kind}})},
            media_type="text/html",
        )
    return Redirect(redirect_to, status_code=303, cookies=[flash_cookie(request, [toast])])
