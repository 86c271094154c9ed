"""A scripted browser for consent flows: our app over ASGI, the twins over real HTTP, cookies kept."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import httpx

APP_HOST = "testserver.local"
APP_ORIGIN = f"http://{APP_HOST}"
REDIRECTS = (301, 302, 303, 307, 308)


def confirm_action(page: httpx.Response) -> str | None:
    """Where our confirmation page's button posts (None when the page has no such button)."""
    if page.status_code != 200 or urlsplit(str(page.url)).hostname != APP_HOST:
        return None
    found = re.search(r'<form method="post" action="(/oauth/[^"]+/start\?[^"]+)"', page.text)
    return html.unescape(found.group(1)) if found else None


class ConsentBrowser:
    """Follows redirects across our app (ASGI client) and the twins (network client), like a browser."""

    def __init__(self, app: httpx.AsyncClient, network: httpx.AsyncClient, *, user_agent: str | None = None) -> None:
        self.app = app
        self.network = network
        self.cookies: dict[str, str] = {}  # our app's cookies (the twins need none)
        self.visited: list[str] = []
        self.user_agent = user_agent  # e.g. a chat app's link previewer

    def _app_headers(self) -> dict[str, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        return headers

    def _keep_cookies(self, response: httpx.Response) -> None:
        for cookie in response.cookies.jar:
            self.cookies[cookie.name] = cookie.value or ""

    def _client(self, url: str) -> httpx.AsyncClient:
        return self.app if urlsplit(url).hostname == APP_HOST else self.network

    async def get(self, url: str, *, max_hops: int = 10) -> httpx.Response:
        """GET `url` and follow redirects; returns the final response."""
        for _ in range(max_hops):
            self.visited.append(url)
            client = self._client(url)
            response = await client.get(url, headers=self._app_headers() if client is self.app else {})
            if client is self.app:
                self._keep_cookies(response)
            if response.status_code not in REDIRECTS:
                return response
            url = str(response.url.join(response.headers["location"]))
        raise AssertionError(f"too many redirects: {self.visited}")

    async def press(self, action: str) -> httpx.Response:
        """Press our confirmation page's button: one same-origin POST, its redirect not followed."""
        url = str(httpx.URL(APP_ORIGIN).join(action))
        self.visited.append(f"POST {url}")
        headers = {**self._app_headers(), "Origin": APP_ORIGIN, "Sec-Fetch-Site": "same-origin"}
        response = await self.app.post(url, headers=headers)
        self._keep_cookies(response)
        return response

    async def open_link(self, url: str) -> httpx.Response:
        """What a person does with a consent link: open it, press the button on our page, follow where it leads."""
        page = await self.get(url)
        action = confirm_action(page)
        if action is None:
            return page  # a refusal: nothing to press
        response = await self.press(action)
        if response.status_code not in REDIRECTS:
            return response
        return await self.get(str(response.url.join(response.headers["location"])))

    async def post_form(self, url: str, data: dict[str, str | list[str]]) -> httpx.Response:
        return await self.app.post(url, data=data, headers=self._app_headers())
