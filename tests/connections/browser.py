"""A scripted browser for consent flows: our app over ASGI, the twins over real HTTP, cookies kept."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

APP_HOST = "testserver.local"


class ConsentBrowser:
    """Follows redirects across our app (ASGI client) and the twins (network client), like a browser."""

    def __init__(self, app: httpx.AsyncClient, network: httpx.AsyncClient) -> None:
        self.app = app
        self.network = network
        self.cookies: dict[str, str] = {}  # our app's cookies (the twins need none)
        self.visited: list[str] = []

    def _client(self, url: str) -> httpx.AsyncClient:
        return self.app if urlsplit(url).hostname == APP_HOST else self.network

    async def get(self, url: str, *, max_hops: int = 10) -> httpx.Response:
        """GET `url` and follow redirects; returns the final response."""
        for _ in range(max_hops):
            self.visited.append(url)
            client = self._client(url)
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if client is self.app else {}
            response = await client.get(url, headers=headers)
            if client is self.app:
                for cookie in response.cookies.jar:
                    self.cookies[cookie.name] = cookie.value or ""
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            url = str(response.url.join(response.headers["location"]))
        raise AssertionError(f"too many redirects: {self.visited}")

    async def post_form(self, url: str, data: dict[str, str | list[str]]) -> httpx.Response:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        return await self.app.post(url, data=data, headers=headers)
