"""`ResendTwinControl`: the typed client for the Resend twin's control and inspection interface (`/_twin/…`).

Tests and `make dev` use it to read the e-mails the twin took and the requests it answered, and to make Resend
fail on demand (docs/resend-twin.md).
"""

from __future__ import annotations

from typing import Any, cast

from sandbox.control import TwinControl

Body = dict[str, Any]


class ResendTwinControl(TwinControl):
    """Drive the Resend twin over HTTP (`base_url` is the twin's origin)."""

    # -- reading ---------------------------------------------------------------------------------------

    async def emails(self, to: str | None = None) -> list[Body]:
        """The e-mails the twin took (to `to`, if given), oldest first: id, sender, to, subject, text, html,
        created_at, idempotency_key."""
        params = {"to": to} if to else {}
        return cast(list[Body], (await self._get("emails", **params))["emails"])

    async def requests(self) -> list[Body]:
        """Every POST /emails the twin answered, oldest first: at, status, idempotency_key, email_id, name (the
        error's), replayed (answered from an Idempotency-Key record), fault."""
        return cast(list[Body], (await self._get("requests"))["requests"])

    async def state(self) -> Body:
        """Counts, refused addresses and armed faults."""
        return await self._get("state")

    # -- making Resend fail ----------------------------------------------------------------------------

    async def fail_next(self, times: int = 1, *, status: int = 500) -> None:
        """The next `times` sends answer `status` (500: application_error) and store nothing (an outage)."""
        await self._post("faults/server-error", {"times": times, "status": status})

    async def lose_answer(self, times: int = 1, *, seconds: float = 30.0, status: int = 500) -> None:
        """The next `times` sends are stored, then their answer is held `seconds` (past the client's timeout) and
        ends as `status`; with seconds=0 they answer `status` at once: the e-mail went out, the sender cannot know."""
        await self._post("faults/lose-answer", {"times": times, "seconds": seconds, "status": status})

    async def hang(self, times: int = 1, *, seconds: float = 30.0) -> None:
        """The next `times` sends wait `seconds` before anything is done, then answer 500 storing nothing."""
        await self._post("faults/hang", {"times": times, "seconds": seconds})

    async def rate_limit(self, times: int = 1, *, retry_after: int = 1) -> None:
        """The next `times` sends answer 429 rate_limit_exceeded with `retry-after: <retry_after>`."""
        await self._post("faults/rate-limit", {"times": times, "retry_after": retry_after})

    async def refuse(self, address: str) -> None:
        """Sends to `address` answer 422 validation_error from now on (refused for good)."""
        await self._post("faults/refuse", {"address": address})

    async def clear_faults(self) -> None:
        """No armed faults and no refused addresses; held answers end now."""
        await self._post("faults/clear")

    async def reset(self) -> None:
        """An empty twin: no e-mails, idempotency records, faults or requests."""
        await self._post("reset")
