"""`TelegramTwinControl`: the typed client for the Telegram twin's control and inspection interface (`/_twin/…`).

Tests, `make dev` and `cheers chat telegram` use it to play people in Telegram (a message, a photo, a button
pressed, the bot added to a group), to read what the bot sent, and to make Telegram fail on demand.
Every update call answers `{"update_id", "update", "via", "delivered", "status", "statuses", "errors"}`:
`status` is the webhook's last HTTP status (None when it gave none, or when the update waits for getUpdates).
"""

from __future__ import annotations

import base64
from typing import Any, cast

import httpx

from sandbox.control import TwinControl

Body = dict[str, Any]


class TelegramTwinControl(TwinControl):
    """Drive the Telegram twin over HTTP (`base_url` is the twin's origin)."""

    def _check(self, response: httpx.Response) -> None:
        if response.status_code == 400:  # the twin's refusal, as the Python error it means
            answer = response.json()
            kind = LookupError if answer.get("kind") == "lookup" else ValueError
            raise kind(str(answer.get("error")))
        response.raise_for_status()

    # -- people in Telegram ------------------------------------------------------------------------

    async def user_says(
        self,
        text: str,
        *,
        user_id: int,
        chat_id: int | None = None,
        chat_type: str = "private",
        user_name: str = "Sam",
        chat_title: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> Body:
        """A person writes `text` (private chat by default; a negative chat_id is a group), optionally replying to a
        message. The update goes to the webhook when one is set (resent on failure), else waits for getUpdates.
        In a group, privacy mode keeps plain text from the bot: `via` is "privacy" and nothing is sent."""
        body = {
            "reply_to_message_id": reply_to_message_id,
            "text": text,
            "user_id": user_id,
            "chat_id": chat_id,
            "chat_type": chat_type,
            "user_name": user_name,
            "chat_title": chat_title,
        }
        return await self._post("updates/message", body)

    async def user_sends_photo(
        self,
        data: bytes,
        *,
        user_id: int,
        chat_id: int | None = None,
        caption: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> Body:
        """A person sends a photo (JPEG/PNG bytes); its sizes are served by getFile and the file URL."""
        body = {
            "reply_to_message_id": reply_to_message_id,
            "data_b64": base64.b64encode(data).decode(),
            "user_id": user_id,
            "chat_id": chat_id,
            "caption": caption,
        }
        return await self._post("updates/photo", body)

    async def user_clicks(self, label: str, *, user_id: int, chat_id: int, message_id: int | None = None) -> Body:
        """A person presses the button labelled `label` on the bot's latest message in the chat that has one (or
        on `message_id`): a callback_query update. A link button answers `{"url": ...}` and sends nothing.
        No such button: LookupError."""
        body = {"label": label, "user_id": user_id, "chat_id": chat_id, "message_id": message_id}
        return await self._post("updates/click", body)

    async def bot_added(self, chat_id: int, *, title: str, by_user_id: int) -> Body:
        """Someone adds the bot to a group (negative chat_id): a my_chat_member update."""
        return await self._post("updates/bot-added", {"chat_id": chat_id, "title": title, "by_user_id": by_user_id})

    async def resend(self, update_id: int) -> Body:
        """The same update again, as Telegram resends one it believes the bot did not get."""
        return await self._post("updates/resend", {"update_id": update_id})

    # -- reading -------------------------------------------------------------------------------------

    async def messages(self, chat_id: int) -> list[Body]:
        """The bot's messages in a chat, oldest first: message_id, text (plain), html (as sent), reply_markup,
        edited (how many times), document {file_name, size, caption, …}, reply_to_message_id, deleted."""
        return cast(list[Body], (await self._get("messages", chat_id=str(chat_id)))["messages"])

    async def callback_answers(self) -> list[Body]:
        """Every answered callback query: callback_query_id, user_id, chat_id, message_id, data, text,
        show_alert, url, at."""
        return cast(list[Body], (await self._get("callback-answers"))["answers"])

    async def calls(self, method: str | None = None) -> list[Body]:
        """The Bot API calls the twin received (of `method`, any case), oldest first, with their status."""
        params = {"method": method} if method else {}
        return cast(list[Body], (await self._get("calls", **params))["calls"])

    async def webhook(self) -> Body:
        """getWebhookInfo's fields plus the secret token and the resend policy."""
        return await self._get("webhook")

    async def updates(self) -> list[Body]:
        """Every update the twin made, with whether it was confirmed and each delivery's status."""
        return cast(list[Body], (await self._get("updates"))["updates"])

    async def file(self, file_id: str) -> bytes:
        """The bytes of a file the twin holds (a document the bot sent, a photo size)."""
        response = await self._client.get(f"{self.base_url}/_twin/files/{file_id}")
        response.raise_for_status()
        return response.content

    async def state(self) -> Body:
        """Everything the twin knows, as JSON (GET /_twin/state)."""
        return await self._get("state")

    # -- the webhook ---------------------------------------------------------------------------------

    async def set_webhook(
        self, url: str, secret: str | None = None, *, allowed_updates: list[str] | None = None
    ) -> Body:
        """Point the webhook at `url` with `secret` (as setWebhook does); an empty url deletes it."""
        return await self._post("webhook", {"url": url, "secret": secret, "allowed_updates": allowed_updates})

    async def delete_webhook(self) -> None:
        """No webhook: updates wait for getUpdates."""
        await self._post("webhook", {"url": ""})

    async def configure_webhook(
        self,
        *,
        resend_attempts: int | None = None,
        resend_interval: float | None = None,
        timeout_seconds: float | None = None,
    ) -> Body:
        """How updates are resent: `resend_attempts` POSTs in all (3), `resend_interval` seconds apart (0.05),
        each waiting `timeout_seconds` (10) for the webhook's answer."""
        body = {"resend_attempts": resend_attempts, "resend_interval": resend_interval, "timeout": timeout_seconds}
        return cast(Body, (await self._post("webhook/policy", body))["policy"])

    # -- faults ----------------------------------------------------------------------------------------

    async def rate_limit(self, method: str | None, retry_after: int = 3, times: int = 1) -> None:
        """The next `times` calls of `method` (None: any) answer 429 "Too Many Requests: retry after N"."""
        await self._post("faults/rate-limit", {"method": method, "retry_after": retry_after, "times": times})

    async def server_error(self, method: str | None, status: int = 502, times: int = 1) -> None:
        """The next `times` calls of `method` answer HTTP `status` and do nothing."""
        await self._post("faults/server-error", {"method": method, "status": status, "times": times})

    async def delay(self, method: str | None, seconds: float, times: int = 1) -> None:
        """The next `times` calls of `method` wait `seconds`, then are carried out (client timeouts)."""
        await self._post("faults/delay", {"method": method, "seconds": seconds, "times": times})

    async def block(self, user_id: int) -> None:
        """The person blocks the bot: writing to their private chat is 403 "bot was blocked by the user"."""
        await self._post("faults/block", {"user_id": user_id})

    async def unblock(self, user_id: int) -> None:
        """The person unblocks the bot."""
        await self._post("faults/unblock", {"user_id": user_id})

    async def kick(self, chat_id: int) -> None:
        """The bot is removed from the group: writing there is 403 "bot was kicked from the group chat"."""
        await self._post("faults/kick", {"chat_id": chat_id})

    async def clear(self) -> None:
        """No armed faults, blocks or kicks."""
        await self._post("faults/clear")

    async def reset(self) -> None:
        """An empty world: no people, chats, messages, files, updates, webhook, faults or calls."""
        await self._post("reset")

    async def privacy(self, enabled: bool) -> None:
        """BotFather's /setprivacy: on (the default), the bot gets only commands, replies to it and mentions of it
        in groups; off, every group message."""
        await self._post("privacy", {"enabled": enabled})

    async def advance_clock(self, seconds: float) -> None:
        """Move the twin's clock alone ahead."""
        await self._post("clock", {"advance_seconds": seconds})


__all__ = ["TelegramTwinControl"]
