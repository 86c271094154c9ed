"""How publishing names a connection and a post in notes and notifications."""

from __future__ import annotations

from core.connections import lifecycle as connections
from storage.models import Connection
from storage.queries.deliveries import ConnectionRow


def label_for(connection: Connection | ConnectionRow) -> str:
    return f"{connections.PROVIDER_LABEL[connection.provider]} {connection.display_name}"


def excerpt(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
