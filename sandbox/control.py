"""The typed control clients' shared plumbing: JSON calls to a twin's `/_twin/…` interface over httpx."""

from __future__ import annotations

from typing import Any, cast

import httpx

Body = dict[str, Any]


class TwinControl:
    """Calls a twin's control interface (`base_url` is its origin); each twin's client adds its typed methods."""

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client

    async def _post(self, path: str, body: Body | None = None) -> Body:
        response = await self._client.post(f"{self.base_url}/_twin/{path}", json=body or {})
        self._check(response)
        return cast(Body, response.json())

    async def _get(self, path: str, **params: str) -> Body:
        response = await self._client.get(f"{self.base_url}/_twin/{path}", params=params)
        self._check(response)
        return cast(Body, response.json())

    def _check(self, response: httpx.Response) -> None:
        """Raise for a refused control call (a twin may first map its own 400 answers onto Python errors)."""
        response.raise_for_status()
