"""Meta's deauthorize and data-deletion callbacks: verify signed_request, mark connections, record it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.access import audit
from core.access.audit import Actor
from core.clock import Clock
from core.connections.lifecycle import erase_secrets
from core.errors import Invalid, NotFound
from core.notifications import outbox as notifications
from core.notifications.kinds import NotificationKind, offers_for
from storage.crypto import TokenCipher
from storage.models import Channel, ConnectionStatus, MetaDataRequest, Severity
from storage.queries import connections as connections_q


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def parse_signed_request(signed_request: str, app_secret: str) -> dict[str, Any]:
    """Verify `sig.payload` (HMAC-SHA256 with the app secret) and return the payload."""
    if not app_secret:
        raise Invalid("the Facebook app secret is not configured (CHEERS_FACEBOOK_APP_SECRET)")
    try:
        encoded_sig, encoded_payload = signed_request.split(".", 1)
        signature = _b64decode(encoded_sig)
        payload: Any = json.loads(_b64decode(encoded_payload))
    except (ValueError, RecursionError) as exc:
        raise Invalid("signed_request is malformed", field="signed_request") from exc
    if not isinstance(payload, dict):  # valid JSON, but a list, string, number or null is not Meta's object
        raise Invalid("signed_request is malformed: its payload is not a JSON object", field="signed_request")
    if str(payload.get("algorithm", "")).upper() != "HMAC-SHA256":
        raise Invalid("signed_request uses an unexpected algorithm", field="signed_request")
    expected = hmac.new(app_secret.encode(), encoded_payload.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise Invalid("signed_request signature does not match", field="signed_request")
    if not payload.get("user_id"):
        raise Invalid("signed_request carries no user_id", field="signed_request")
    return payload


def sign_request(payload: dict[str, Any], app_secret: str) -> str:
    """Build a signed_request as Meta does (the sandbox twin and tests use it)."""
    body = base64.urlsafe_b64encode(json.dumps({"algorithm": "HMAC-SHA256", **payload}).encode()).decode().rstrip("=")
    sig = hmac.new(app_secret.encode(), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(sig).decode().rstrip("=") + "." + body


@dataclass(frozen=True)
class DataRequestReceipt:
    confirmation_code: str
    connection_ids: list[int]


async def handle(
    session: AsyncSession, clock: Clock, cipher: TokenCipher, *, kind: str, provider_user_id: str
) -> DataRequestReceipt:
    """Mark every connection made by that Meta user revoked, drop its secrets, record the request."""
    connections = list(await connections_q.by_provider_user(session, provider_user_id))
    for connection in connections:
        if connection.status is not ConnectionStatus.disconnected:
            connection.status = ConnectionStatus.revoked
            connection.status_reason = (
                "the Facebook user removed CheersAI"
                if kind == "deauthorize"
                else "Facebook asked us to delete the data"
            )
            if kind == "data_deletion":
                erase_secrets(connection, cipher)
            await notifications.notify(
                session,
                clock,
                account_id=connection.account_id,
                kind=NotificationKind.connection_revoked,
                severity=Severity.error,
                title=f"{connection.display_name} was disconnected on Facebook's side",
                subject={"connection_id": connection.id},
                payload={
                    "reason": connection.status_reason,
                    "remedy": "Reconnect it from CheersAI if this was a mistake.",
                },
                actions=offers_for(NotificationKind.connection_revoked, connection_id=connection.id),
                dedup_key=f"connection_revoked:{connection.id}",
            )
            await audit.record(
                session,
                clock,
                Actor(user_id=None, channel=Channel.system),
                f"meta_{kind}",
                account_id=connection.account_id,
                subject_type="connection",
                subject_id=connection.id,
            )
    request = await connections_q.add_data_request(
        session,
        MetaDataRequest(
            kind=kind,
            provider_user_id=provider_user_id,
            confirmation_code=secrets.token_hex(10),
            connection_ids=[c.id for c in connections],
            status="completed",
        ),
    )
    await session.flush()
    return DataRequestReceipt(confirmation_code=request.confirmation_code, connection_ids=request.connection_ids)


async def status(session: AsyncSession, code: str) -> MetaDataRequest:
    request = await connections_q.data_request_by_code(session, code)
    if request is None:
        raise NotFound("no data request with that confirmation code")
    return request
