"""A consent's grant and targets, packed to wait (encrypted in its OAuth state) for the person's pick."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from providers.base import Grant, Target
from storage.enums import Provider


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def pack_pending(grant: Grant, targets: list[Target]) -> str:
    """The grant and its targets as JSON, to be encrypted into the state while the person picks."""

    def target_doc(t: Target) -> dict[str, Any]:
        doc = asdict(t)
        doc["provider"] = t.provider.value
        doc["token_expires_at"] = _dt(t.token_expires_at)
        return doc

    grant_doc = asdict(grant)
    grant_doc["expires_at"] = _dt(grant.expires_at)
    grant_doc["data_access_expires_at"] = _dt(grant.data_access_expires_at)
    return json.dumps({"grant": grant_doc, "targets": [target_doc(t) for t in targets]})


def unpack_pending(blob: str) -> tuple[Grant, list[Target]]:
    """The grant and targets `pack_pending` packed (after decryption)."""
    doc = json.loads(blob)

    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    g = doc["grant"]
    grant = Grant(
        access_token=g["access_token"],
        refresh_token=g["refresh_token"],
        expires_at=when(g["expires_at"]),
        scopes=tuple(g["scopes"]),
        data_access_expires_at=when(g["data_access_expires_at"]),
        subject_id=g["subject_id"],
    )
    targets = [
        Target(
            provider=Provider(t["provider"]),
            external_id=t["external_id"],
            name=t["name"],
            access_token=t["access_token"],
            token_expires_at=when(t["token_expires_at"]),
            page_id=t["page_id"],
            ig_business_id=t["ig_business_id"],
            location_name=t["location_name"],
            details=t["details"],
        )
        for t in doc["targets"]
    ]
    return grant, targets
