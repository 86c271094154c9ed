"""How publishing names a connection and a post in notes and notifications."""

from __future__ import annotations

from core.connections import lifecycle as connections
from storage.models import Connection


def label_for(connection: Connection) -> str:
    return f"{connections.PROVIDER_LABEL[connection.provider]} {connection.display_name}"


def excerpt(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
