"""The Slack twin calling the app: signed requests exactly as Slack sends them to a Request URL.

Slash commands (form-encoded), interactivity (`payload=<JSON>`: block_actions, view_submission, shortcuts) and
the Events API (JSON `event_callback`, `url_verification`), each signed with X-Slack-Signature (v0, by
slack_sdk's SignatureVerifier) and X-Slack-Request-Timestamp. trigger_id and response_url are minted by the
twin (`SlackTwinControl.interaction`), so what the app answers through them is captured there.

    sender = SlackSender(control)
    request = await sender.slash_command("week", user_id="U0OWNER001", channel_id="C0ALERTS01")
    response = await sender.send(request, f"{app_url}/slack/events", client)
    await control.answers(request.response_url_id)
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from sandbox.slack.model import random_string
from sandbox.slack.state import DEFAULT_SIGNING_SECRET
from sandbox.slack.twin import SlackTwinControl

VERIFICATION_TOKEN = "sandbox-verification-token"  # Slack's deprecated per-app token, still sent in payloads
STALE_SECONDS = 6 * 60  # older than the five minutes a receiver accepts
Body = dict[str, Any]


class _Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class SlackRequest:
    """One request from Slack: the exact body bytes and headers, plus what a test wants to check afterwards."""

    body: bytes
    headers: dict[str, str]
    payload: Body  # the decoded form, payload or event, for assertions
    response_url_id: str | None = None  # read the app's answers with control.answers(...)
    trigger_id: str | None = None
    extra: Body = field(default_factory=dict)


class SlackSender:
    """Build, sign and send Slack's requests for one app (its signing secret) against one twin."""

    def __init__(
        self, control: SlackTwinControl, *, signing_secret: str = DEFAULT_SIGNING_SECRET, clock: _Clock | None = None
    ) -> None:
        self.control = control
        self.signing_secret = signing_secret
        self.clock = clock

    # -- signing ---------------------------------------------------------------------------------

    def _now(self) -> int:
        return int((self.clock.now() if self.clock is not None else datetime.now(UTC)).timestamp())

    def signed(
        self, body: bytes, content_type: str, *, timestamp: int | None = None, secret: str | None = None
    ) -> dict[str, str]:
        """The headers Slack sends with `body`: content type, timestamp and the v0 signature."""
        ts = str(self._now() if timestamp is None else timestamp)
        signature = SignatureVerifier(secret or self.signing_secret).generate_signature(timestamp=ts, body=body)
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or "",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }

    def _resign(
        self, request: SlackRequest, *, timestamp: int | None = None, secret: str | None = None
    ) -> SlackRequest:
        content_type = request.headers["Content-Type"]
        headers = {**request.headers, **self.signed(request.body, content_type, timestamp=timestamp, secret=secret)}
        return replace(request, headers=headers)

    def forged(self, request: SlackRequest, secret: str = "not-the-signing-secret") -> SlackRequest:
        """The same request signed with another secret (someone who is not Slack)."""
        return self._resign(request, secret=secret)

    def stale(self, request: SlackRequest, seconds: int = STALE_SECONDS) -> SlackRequest:
        """The same request correctly signed, but `seconds` old (a replay)."""
        return self._resign(request, timestamp=self._now() - seconds)

    def retried(self, request: SlackRequest, num: int = 1, reason: str = "http_timeout") -> SlackRequest:
        """Slack's retry of an event it got no timely 200 for: same body, fresh signature, retry headers."""
        again = self._resign(request)
        return replace(again, headers={**again.headers, "X-Slack-Retry-Num": str(num), "X-Slack-Retry-Reason": reason})

    async def send(self, request: SlackRequest, url: str, client: httpx.AsyncClient) -> httpx.Response:
        """POST the request to the app's Request URL exactly as built."""
        return await client.post(url, content=request.body, headers=request.headers)

    # -- slash commands ----------------------------------------------------------------------------

    async def slash_command(
        self,
        text: str,
        *,
        command: str = "/cheers",
        user_id: str | None = None,
        channel_id: str | None = None,
        team_id: str | None = None,
    ) -> SlackRequest:
        """`/cheers <text>` typed by a person in a channel (default: the workspace's first admin, in its first
        public channel); a DM's id (`D…`) types it in the app's DM."""
        minted = await self.control.interaction(
            user_id=user_id, channel_id=channel_id, team_id=team_id, any_channel=channel_id is None
        )
        form = {
            "token": VERIFICATION_TOKEN,
            "team_id": minted["team"]["id"],
            "team_domain": minted["team"]["domain"],
            "channel_id": minted["channel"]["id"],
            "channel_name": minted["channel"]["name"],
            "user_id": minted["user"]["id"],
            "user_name": minted["user"]["name"],
            "command": command,
            "text": text,
            "api_app_id": minted["api_app_id"],
            "is_enterprise_install": "false",
            "response_url": minted["response_url"],
            "trigger_id": minted["trigger_id"],
        }
        body = urlencode(form).encode()
        return SlackRequest(
            body,
            self.signed(body, "application/x-www-form-urlencoded"),
            form,
            response_url_id=minted["response_url_id"],
            trigger_id=minted["trigger_id"],
        )

    # -- interactivity -----------------------------------------------------------------------------

    def _interactive(self, payload: Body, minted: Body | None) -> SlackRequest:
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
        return SlackRequest(
            body,
            self.signed(body, "application/x-www-form-urlencoded"),
            payload,
            response_url_id=minted["response_url_id"] if minted else None,
            trigger_id=minted["trigger_id"] if minted else None,
        )

    @staticmethod
    def _person(minted: Body) -> Body:
        user = minted["user"]
        return {"id": user["id"], "username": user["name"], "name": user["name"], "team_id": user["team_id"]}

    async def block_action(
        self,
        action_id: str,
        *,
        channel_id: str,
        message_ts: str,
        user_id: str | None = None,
        value: str | None = None,
    ) -> SlackRequest:
        """A person clicks the button `action_id` in a message the app posted (it must be in the message)."""
        minted = await self.control.interaction(user_id=user_id, channel_id=channel_id, message_ts=message_ts)
        message = minted.get("message")
        if message is None:
            raise LookupError(f"no message {message_ts} in {channel_id}")
        found = _find_element(message.get("blocks") or [], action_id)
        if found is None:
            raise LookupError(f"message {message_ts} has no element with action_id {action_id}")
        block_id, element = found
        action: Body = {
            "action_id": action_id,
            "block_id": block_id,
            "type": element.get("type", "button"),
            "action_ts": f"{self._now()}.{secrets.randbelow(999999):06d}",
        }
        if "text" in element:
            action["text"] = element["text"]
        if value is not None or "value" in element:
            action["value"] = value if value is not None else element["value"]
        payload = {
            "type": "block_actions",
            "user": self._person(minted),
            "api_app_id": minted["api_app_id"],
            "token": VERIFICATION_TOKEN,
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False},
            "trigger_id": minted["trigger_id"],
            "team": minted["team"],
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": minted["channel"],
            "message": message,
            "state": {"values": {}},
            "response_url": minted["response_url"],
            "actions": [action],
        }
        return self._interactive(payload, minted)

    async def view_block_action(self, view_id: str, action_id: str, *, user_id: str | None = None) -> SlackRequest:
        """A person clicks the button `action_id` in a published view (their Home tab): no channel, no response_url."""
        views = {v["id"]: v for v in await self.control.views()}
        if view_id not in views:
            raise LookupError(f"no view {view_id}")
        minted = await self.control.interaction(user_id=user_id or views[view_id]["user_id"], view_id=view_id)
        view = minted["view"]
        found = _find_element(view.get("blocks") or [], action_id)
        if found is None:
            raise LookupError(f"view {view_id} has no element with action_id {action_id}")
        block_id, element = found
        action: Body = {
            "action_id": action_id,
            "block_id": block_id,
            "type": element.get("type", "button"),
            "action_ts": f"{self._now()}.{secrets.randbelow(999999):06d}",
            **{k: element[k] for k in ("text", "value") if k in element},
        }
        payload = {
            "type": "block_actions",
            "user": self._person(minted),
            "api_app_id": minted["api_app_id"],
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": view_id},
            "trigger_id": minted["trigger_id"],
            "team": minted["team"],
            "enterprise": None,
            "is_enterprise_install": False,
            "view": view,
            "state": {"values": {}},
            "actions": [action],
        }
        return replace(self._interactive(payload, minted), response_url_id=None)

    async def view_submission(self, view_id: str, values: Body, *, user_id: str | None = None) -> SlackRequest:
        """A person submits an open modal: `values` is {block_id: {action_id: value}}; a plain value is shaped
        the way the element's type reports it (a select's selected_option, a datepicker's selected_date …)."""
        views = {v["id"]: v for v in await self.control.views()}
        if view_id not in views:
            raise LookupError(f"no view {view_id}")
        minted = await self.control.interaction(user_id=user_id or views[view_id]["user_id"], view_id=view_id)
        view = dict(minted["view"])
        view["state"] = {"values": _state_values(view.get("blocks") or [], values)}
        payload = {
            "type": "view_submission",
            "team": minted["team"],
            "user": self._person(minted),
            "api_app_id": minted["api_app_id"],
            "token": VERIFICATION_TOKEN,
            "trigger_id": minted["trigger_id"],
            "view": view,
            "response_urls": [],
            "enterprise": None,
            "is_enterprise_install": False,
        }
        return self._interactive(payload, minted)

    async def shortcut(self, callback_id: str, *, user_id: str | None = None) -> SlackRequest:
        """A global shortcut (no channel, so no response_url)."""
        minted = await self.control.interaction(user_id=user_id)
        payload = {
            "type": "shortcut",
            "token": VERIFICATION_TOKEN,
            "action_ts": f"{self._now()}.{secrets.randbelow(999999):06d}",
            "team": minted["team"],
            "user": self._person(minted),
            "api_app_id": minted["api_app_id"],
            "callback_id": callback_id,
            "trigger_id": minted["trigger_id"],
            "enterprise": None,
            "is_enterprise_install": False,
        }
        request = self._interactive(payload, minted)
        return replace(request, response_url_id=None)

    async def message_shortcut(
        self, callback_id: str, *, channel_id: str, message_ts: str, user_id: str | None = None
    ) -> SlackRequest:
        """A message shortcut on one message (Slack calls it message_action)."""
        minted = await self.control.interaction(user_id=user_id, channel_id=channel_id, message_ts=message_ts)
        payload = {
            "type": "message_action",
            "token": VERIFICATION_TOKEN,
            "action_ts": f"{self._now()}.{secrets.randbelow(999999):06d}",
            "team": minted["team"],
            "user": self._person(minted),
            "channel": minted["channel"],
            "api_app_id": minted["api_app_id"],
            "callback_id": callback_id,
            "trigger_id": minted["trigger_id"],
            "message_ts": message_ts,
            "message": minted.get("message"),
            "response_url": minted["response_url"],
            "enterprise": None,
            "is_enterprise_install": False,
        }
        return self._interactive(payload, minted)

    # -- Events API ----------------------------------------------------------------------------------

    def _json(self, payload: Body) -> SlackRequest:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return SlackRequest(body, self.signed(body, "application/json"), payload)

    def url_verification(self, challenge: str | None = None) -> SlackRequest:
        """The handshake Slack sends when the Request URL is saved; the app must echo `challenge`."""
        payload = {"token": VERIFICATION_TOKEN, "challenge": challenge or random_string(48), "type": "url_verification"}
        return self._json(payload)

    async def event(self, event: Body, *, team_id: str | None = None, event_id: str | None = None) -> SlackRequest:
        """An event_callback wrapping `event` (its event_ts is filled in); a new event_id unless given."""
        ws = await self.control.workspace(team_id)
        now = self._now()
        payload = {
            "token": VERIFICATION_TOKEN,
            "team_id": ws["team_id"],
            "api_app_id": ws["api_app_id"],
            "event": {"event_ts": f"{now}.{secrets.randbelow(999999):06d}", **event},
            "type": "event_callback",
            "event_id": event_id or "Ev" + random_string(9).upper(),
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": ws["team_id"],
                    "user_id": ws["bot_user_id"],
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        return self._json(payload)

    async def app_home_opened(self, user_id: str, *, tab: str = "home", team_id: str | None = None) -> SlackRequest:
        """A person opens the app's Home tab."""
        channel = "D" + random_string(10).upper()
        return await self.event(
            {"type": "app_home_opened", "user": user_id, "channel": channel, "tab": tab}, team_id=team_id
        )

    async def app_uninstalled(self, *, team_id: str | None = None) -> SlackRequest:
        """The workspace removed the app (the twin's tokens should be revoked too: control.revoke(team_id=…))."""
        return await self.event({"type": "app_uninstalled"}, team_id=team_id)

    async def tokens_revoked(self, *, team_id: str | None = None) -> SlackRequest:
        """The bot token was revoked."""
        ws = await self.control.workspace(team_id)
        return await self.event({"type": "tokens_revoked", "tokens": {"bot": [ws["bot_user_id"]]}}, team_id=team_id)

    async def message(self, channel_id: str, text: str, *, user_id: str, team_id: str | None = None) -> SlackRequest:
        """A person writes in a channel (or the app's DM) the app listens to."""
        now = self._now()
        event = {
            "type": "message",
            "channel": channel_id,
            "user": user_id,
            "text": text,
            "ts": f"{now}.{secrets.randbelow(999999):06d}",
            "channel_type": "im" if channel_id.startswith("D") else "channel",
        }
        return await self.event(event, team_id=team_id)


def _find_element(blocks: list[Any], action_id: str) -> tuple[str, Body] | None:
    """(block_id, element) of the interactive element with `action_id` in a message's blocks."""
    for index, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        candidates = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            candidates.append(block["accessory"])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return str(block.get("block_id") or f"b{index}"), element
    return None


def _state_values(blocks: list[Any], values: Body) -> Body:
    """view.state.values: each given value shaped by its input element's type."""
    kinds = {
        (b.get("block_id"), b["element"].get("action_id")): b["element"].get("type")
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "input" and isinstance(b.get("element"), dict)
    }
    out: Body = {}
    for block_id, actions in values.items():
        out[block_id] = {}
        for action_id, value in actions.items():
            out[block_id][action_id] = _shaped(kinds.get((block_id, action_id), "plain_text_input"), value)
    return out


def _shaped(kind: str, value: Any) -> Body:
    if isinstance(value, dict):
        return {"type": kind, **value}

    def option(v: Any) -> Body:
        return {"text": {"type": "plain_text", "text": str(v)}, "value": str(v)}

    many = value if isinstance(value, list) else [value]
    shapes: dict[str, Body] = {
        "static_select": {"selected_option": option(value)},
        "external_select": {"selected_option": option(value)},
        "radio_buttons": {"selected_option": option(value)},
        "multi_static_select": {"selected_options": [option(v) for v in many]},
        "multi_external_select": {"selected_options": [option(v) for v in many]},
        "checkboxes": {"selected_options": [option(v) for v in many]},
        "datepicker": {"selected_date": value},
        "timepicker": {"selected_time": value},
        "datetimepicker": {"selected_date_time": value},
        "users_select": {"selected_user": value},
        "multi_users_select": {"selected_users": many},
        "conversations_select": {"selected_conversation": value},
        "multi_conversations_select": {"selected_conversations": many},
        "channels_select": {"selected_channel": value},
        "multi_channels_select": {"selected_channels": many},
    }
    return {"type": kind, **shapes.get(kind, {"value": value})}
