"""Signing in by e-mail: a person types their address, and if it is a known active person's, a login link is
e-mailed. The answer never says whether the address is known; requests are counted per address and per client."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from enum import StrEnum
from urllib.parse import quote

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.access import auth
from core.access.audit import Actor
from core.clock import Clock
from core.email import outbox
from core.email.render import email_bodies
from core.errors import Invalid
from core.settings import Settings
from storage.models import Channel
from storage.queries import sign_in as q

log = structlog.get_logger(__name__)

WINDOW = timedelta(minutes=15)
PER_ADDRESS = 3  # links to one inbox per window: enough for a lost e-mail or two, too few to flood anyone
PER_CLIENT = 10  # addresses one client may try per window: slows guessing and using us to mail strangers
EMAIL_KIND = "login_link"
# The sign-in page acts for nobody yet; the audit log records the link as issued through the web.
SIGN_IN_PAGE = Actor(user_id=None, channel=Channel.web)


class Outcome(StrEnum):
    accepted = "accepted"  # the same for known and unknown addresses: nothing tells them apart
    throttled = "throttled"


def _key(settings: Settings, kind: str, value: str) -> str:
    """A keyed hash: the table never holds an address or an IP, and nobody can precompute keys without the secret."""
    digest = hmac.new(settings.cheers_secret_key.encode(), f"sign-in:{kind}:{value}".encode(), hashlib.sha256)
    return f"{kind}:{digest.hexdigest()}"


def normalised(address: str) -> str:
    """The address as typed minus surrounding spaces; refuses what is not an address at all."""
    value = address.strip()
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or len(value) > outbox.ADDRESS_MAX or any(c.isspace() for c in value):
        raise Invalid("that doesn't look like an e-mail address", remedy="type it like name@example.com", field="email")
    return value


async def request_link(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    *,
    address: str,
    client: str,
    next_path: str | None = None,
) -> Outcome:
    """Count the request and, unless over a limit, e-mail a login link if `address` is a known active person's.

    `next_path` (a planner path) rides on the link, so signing in lands where the person was going."""
    value = normalised(address)
    now = clock.now()
    window_start = now - WINDOW
    await q.forget_before(session, window_start)
    # Both counts always move, whether or not the address is known: a limit must not reveal who has an account.
    by_client = await q.count_attempt(session, _key(settings, "client", client), now=now, window_start=window_start)
    by_address = await q.count_attempt(
        session, _key(settings, "email", value.lower()), now=now, window_start=window_start
    )
    if by_client > PER_CLIENT or by_address > PER_ADDRESS:
        log.warning("sign_in_throttled", by_client=by_client, by_address=by_address)
        return Outcome.throttled
    found = await q.active_users_by_email(session, value)
    if len(found) != 1:
        log.info("sign_in_no_link", reason="unknown" if not found else "ambiguous")
        return Outcome.accepted
    user = found[0]
    link = await auth.issue_login_link(session, clock, settings, SIGN_IN_PAGE, user_id=user.id)
    url = link.url + (f"?next={quote(next_path, safe='/')}" if next_path else "")
    text, html = email_bodies(
        "Sign in to CheersAI",
        [
            f"Hello {user.name}, someone (hopefully you) asked to sign in to the CheersAI planner.",
            f"The link works once and expires in {link.expires_in_minutes} minutes.",
            "If it wasn't you, ignore this e-mail: nobody can sign in without it.",
        ],
        ("Sign in", url),
    )
    await outbox.enqueue(
        session,
        clock,
        dedup_key=f"login_link:{user.id}:{hashlib.sha256(link.url.encode()).hexdigest()[:32]}",
        kind=EMAIL_KIND,
        to=user.email or value,
        subject="Your CheersAI sign-in link",
        text=text,
        html=html,
    )
    log.info("sign_in_link_queued", user_id=user.id)
    return Outcome.accepted
