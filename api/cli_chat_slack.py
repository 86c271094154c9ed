"""`cheers chat slack`: type `/cheers …` or click a button as a person in the sandbox Slack workspace.

A dev tool for `make dev`: it sends the running service exactly what Slack would (a signed slash command or
block_actions request to /slack/events, with a trigger_id and response_url minted by the Slack twin), prints the
ack, then reads the twin's activity feed after a cursor to print what the bot posted. It talks to the twin over
HTTP only (no sandbox import) and signs with slack_sdk's SignatureVerifier, as Slack does.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click
import httpx
from slack_sdk.signature import SignatureVerifier

from api.cli_support import to_json
from core.errors import DomainError
from core.settings import Settings

Body = dict[str, Any]
SLACK_ID = re.compile(r"^[CDGUW][A-Z0-9]{6,}$")  # U… people, C/G… channels, D… DMs, as Slack writes ids
POLL_SECONDS = 0.2
SETTLE_SECONDS = 1.0  # once the expected answer is in, how long nothing new must arrive before we stop
CONSOLE_FILE = "slack-console.json"  # under var/: the messages with buttons printed last, for --click
KEPT_MESSAGES = 20
VERIFICATION_TOKEN = "sandbox-verification-token"  # noqa: S105 - Slack's deprecated per-app token, still in every payload


class ConsoleRefused(DomainError):
    """The app or the twin could not be reached, or refused the request."""

    code = "slack_console"


@dataclass(frozen=True)
class Target:
    app_url: str  # the running service (CHEERS_PUBLIC_URL)
    twin_url: str  # the Slack twin (CHEERS_SLACK_OAUTH_URL in make dev)
    signing_secret: str
    console_file: Path


class Console:
    """One conversation with the app through the twin: mint, sign, send, then follow the activity feed."""

    def __init__(self, target: Target, http: httpx.AsyncClient) -> None:
        self.target = target
        self.http = http

    async def _twin(self, method: str, path: str, **kwargs: Any) -> Body:
        url = f"{self.target.twin_url}/_twin/{path}"
        try:
            answer = await self.http.request(method, url, **kwargs)
            answer.raise_for_status()
            return dict(answer.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise ConsoleRefused(
                f"no Slack twin answers at {self.target.twin_url} ({exc.__class__.__name__})",
                remedy="start `make dev` (it writes the twin's URL to var/dev-twins.env), or pass --twin URL",
            ) from exc

    async def cursor(self) -> int:
        """Where the activity feed ends now: what the app does from here on is this request's."""
        return int((await self._twin("GET", "activity", params={"after": 1 << 62}))["next"])

    async def mint(self, user: str | None, channel: str | None, message_ts: str | None = None) -> Body:
        """A trigger_id and response_url for one request, with the team, person and channel Slack names."""
        user, channel = await self._ids(user, channel)
        body = {"user_id": user, "channel_id": channel, "message_ts": message_ts, "any_channel": channel is None}
        minted = await self._twin("POST", "interactions", json=body)
        if not minted.get("ok"):
            raise ConsoleRefused(f"the Slack twin refused the request: {minted.get('error')}")
        return minted

    async def _ids(self, user: str | None, channel: str | None) -> tuple[str | None, str | None]:
        """Ids for a person and a channel given by id or by name (`mo`, `@mo`, `alerts`, `#alerts`)."""
        if (user is None or SLACK_ID.match(user)) and (channel is None or SLACK_ID.match(channel)):
            return user, channel
        world = await self._twin("GET", "state")
        return (
            _named(user, world["users"], "person", "@") if user else None,
            _named(channel, world["channels"], "channel", "#") if channel else None,
        )

    async def send(self, body: bytes) -> httpx.Response:
        """POST a form body to /slack/events, signed as Slack signs it (v0, timestamp now)."""
        stamp = str(int(time.time()))
        signature = SignatureVerifier(self.target.signing_secret).generate_signature(timestamp=stamp, body=body)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature or "",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        url = f"{self.target.app_url}/slack/events"
        try:
            answer = await self.http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ConsoleRefused(
                f"nothing answers at {url} ({exc.__class__.__name__})",
                remedy="start `make dev`, or pass --url with the address it prints",
            ) from exc
        if answer.status_code == 401:
            raise ConsoleRefused(
                f"CheersAI refused the request: HTTP 401 from {url} (the Slack signature did not verify)",
                remedy="sign with the secret the app runs with: CHEERS_SLACK_SIGNING_SECRET, written by `make dev` "
                "to var/dev-twins.env (--signing-secret overrides it)",
            )
        if answer.status_code >= 400:
            raise ConsoleRefused(f"CheersAI answered HTTP {answer.status_code} from {url}: {answer.text[:300]}")
        return answer

    async def follow(
        self, after: int, response_url_id: str, *, expect_answer: bool, wait: float
    ) -> tuple[list[Body], bool]:
        """What the app did after the cursor: until the expected response_url answer (if any) is in and nothing
        new came for a second, or `wait` seconds at most (workers answer slow commands and clicks later)."""
        deadline = time.monotonic() + wait
        seen: list[Body] = []
        quiet_since = time.monotonic()
        answered = False
        while time.monotonic() < deadline:
            fresh = (await self._twin("GET", "activity", params={"after": after + len(seen)}))["activity"]
            if fresh:
                seen.extend(fresh)
                quiet_since = time.monotonic()
            # The worker's answer lands at the request's response_url (or as a modal it opened).
            answered = any(a.get("response_url_id") == response_url_id or a["kind"] == "view" for a in seen)
            if (answered or not expect_answer) and time.monotonic() - quiet_since >= SETTLE_SECONDS:
                break
            await asyncio.sleep(POLL_SECONDS)
        shown = [resolved for item in seen if (resolved := await self._resolve(item)) is not None]
        return shown, answered or not expect_answer

    async def _resolve(self, item: Body) -> Body | None:
        """An activity item as the person sees it in Slack (text and blocks); None for a raw response_url answer,
        whose effect (an ephemeral, a message, an edit) is its own item."""
        kind = str(item["kind"])
        found: Body
        if kind == "answer":
            return None
        if kind in ("message", "edit"):
            messages = (await self._twin("GET", "messages", params={"channel": item["channel"]}))["messages"]
            found = next((m for m in messages if m["ts"] == item["ts"]), {})
            return {**item, "blocks": found.get("blocks"), "text": found.get("text", item.get("text"))}
        if kind == "ephemeral":
            params = {"user": item["user"], "channel": item["channel"]}
            notes = (await self._twin("GET", "ephemerals", params=params))["ephemerals"]
            found = next((e for e in notes if e["message_ts"] == item["message_ts"]), {})
            return {**item, "blocks": found.get("blocks")}
        if kind == "view":
            views = (await self._twin("GET", "views", params={"user": item["user"]}))["views"]
            found = next((v for v in views if v["id"] == item["id"]), {})
            return {**item, "blocks": (found.get("view") or {}).get("blocks"), "title": _view_title(found)}
        return item

    async def channel_messages(self) -> list[Body]:
        """Every message the app has in a channel or DM now (current text and buttons), for --click; read channel by
        channel, since the activity feed starts afresh when the twin restarts but the messages are kept."""
        channels = [c["id"] for c in (await self._twin("GET", "state"))["channels"]]
        found: list[Body] = []
        for channel in channels:
            messages = (await self._twin("GET", "messages", params={"channel": channel}))["messages"]
            found.extend({**m, "kind": "message", "channel": channel} for m in messages)
        return found


def _named(wanted: str, known: list[Body], what: str, sigil: str) -> str:
    """The id of the person or channel called `wanted` (an id, a name, or a name after @ or #)."""
    name = wanted.removeprefix(sigil)
    for thing in known:
        if name in (thing["id"], thing["name"]):
            return str(thing["id"])
    listed = ", ".join(f"{sigil}{t['name']} ({t['id']})" for t in known if not (t.get("is_im") or t.get("is_bot")))
    raise ConsoleRefused(f"the sandbox workspace has no {what} {wanted!r}", remedy=f"use one of {listed}")


def _view_title(view: Body) -> str:
    title = (view.get("view") or {}).get("title") or {}
    return str(title.get("text") or view.get("type") or "view")


# -- what the person sees -------------------------------------------------------------------------------------


def blocks_text(text: str | None, blocks: list[Any] | None) -> list[str]:
    """Block Kit as plain lines: headers, sections, fields, context, and buttons as [Label] (value)."""
    if not blocks:
        return (text or "(no text)").splitlines() or [""]
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"# {block['text']['text']}")
        elif kind == "section":
            if block.get("text"):
                lines.extend(block["text"]["text"].splitlines())
            lines.extend(f.replace("\n", ": ", 1) for f in (x["text"] for x in block.get("fields") or []))
            if isinstance(block.get("accessory"), dict) and block["accessory"].get("type") == "button":
                lines.append(_button_line([block["accessory"]]))
        elif kind == "context":
            lines.append("  ".join(str(e.get("text", "")) for e in block.get("elements") or []))
        elif kind == "actions":
            lines.append(_button_line(block.get("elements") or []))
        elif kind == "divider":
            lines.append("---")
        elif kind == "input":
            lines.append(f"[input] {(block.get('label') or {}).get('text', '')}")
    return lines


def _button_line(elements: list[Any]) -> str:
    shown = [f"[{e['text']['text']}] ({e.get('value', e.get('action_id'))})" for e in elements if e.get("text")]
    return "buttons: " + "  ".join(shown)


def describe(item: Body) -> str:
    """Where an activity item landed, in the words of someone looking at Slack."""
    via = " via response_url" if item.get("via") == "response_url" else ""
    kind = item["kind"]
    if kind == "message":
        return f"posted in {item['channel']} (ts {item['ts']}){via}"
    if kind == "edit":
        return f"edited its message in {item['channel']} (ts {item['ts']})"
    if kind == "delete":
        return f"deleted its message in {item['channel']} (ts {item['ts']})"
    if kind == "ephemeral":
        return f"showed {item['user']} privately in {item['channel']}{via}"
    if kind == "view":
        return f"{item.get('action', 'opened')} a {item.get('type', 'view')} for {item['user']}: {item.get('title')}"
    if kind == "file":
        return f"uploaded {item.get('filename')} to {item.get('channel')}"
    return str(kind)


def _indented(lines: list[str]) -> str:
    return "\n".join(f"  {line}" for line in lines)


def ack_message(answer: httpx.Response) -> Body:
    """The ack's body: Slack shows a JSON {text, blocks} or plain text to the person who typed, privately."""
    if not answer.content:
        return {}
    try:
        parsed = answer.json()
    except ValueError:
        return {"text": answer.text}
    return parsed if isinstance(parsed, dict) else {"text": str(parsed)}


def has_buttons(blocks: list[Any] | None) -> bool:
    return any(_buttons(blocks))


def _buttons(blocks: list[Any] | None) -> list[Body]:
    found: list[Body] = []
    for block in blocks or []:
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        found.extend(e for e in elements if isinstance(e, dict) and e.get("type") == "button")
    return found


# -- the buttons printed last (var/slack-console.json) ---------------------------------------------------------


def remember(target: Target, shown: list[Body]) -> None:
    """Keep the last private messages with buttons (acks, ephemerals) so --click can press one; channel messages
    are read from the twin as they are now (an alert loses its buttons once resolved)."""
    kept = [m for m in shown if m.get("kind") in ("ack", "ephemeral") and has_buttons(m.get("blocks"))]
    if not kept:
        return
    previous = recall(target)
    target.console_file.parent.mkdir(parents=True, exist_ok=True)
    target.console_file.write_text(json.dumps((previous + kept)[-KEPT_MESSAGES:]))


def recall(target: Target) -> list[Body]:
    try:
        return list(json.loads(target.console_file.read_text()))
    except (OSError, ValueError):
        return []


def _ts(message: Body) -> float:
    return float(message.get("ts") or message.get("message_ts") or 0)


def find_button(messages: list[Body], wanted: str) -> tuple[Body, Body]:
    """The newest message holding a button whose label, value or action_id is `wanted` (labels ignore case)."""
    for message in sorted(messages, key=_ts, reverse=True):
        matches = [
            b
            for b in _buttons(message.get("blocks"))
            if wanted in (b.get("value"), b.get("action_id")) or b["text"]["text"].casefold() == wanted.casefold()
        ]
        if len(matches) == 1:
            return message, matches[0]
        if matches:
            values = ", ".join(repr(b.get("value")) for b in matches)
            raise ConsoleRefused(
                f"the last message with a {wanted!r} button has {len(matches)} of them: {values}",
                remedy="click one by its value, e.g. --click " + repr(matches[0].get("value")),
            )
    raise ConsoleRefused(
        f"no message printed here or posted in the sandbox has a button {wanted!r}",
        remedy='run a command that shows it first, e.g. `cheers chat slack "/cheers week"`',
    )


# -- the command ----------------------------------------------------------------------------------------------


@click.command("slack")
@click.argument("text", required=False)
@click.option("--click", "click_value", metavar="BUTTON", help="Press a button on the last message: label or value.")
@click.option("--user", "user_id", metavar="U…|NAME", help="Who types or clicks (default: the first admin).")
@click.option("--channel", "channel_id", metavar="C…|#NAME", help="Where it is typed (default: the first public one).")
@click.option("--url", "app_url", metavar="URL", help="The running service (default: CHEERS_PUBLIC_URL).")
@click.option("--twin", "twin_url", metavar="URL", help="The Slack twin (default: what make dev wrote).")
@click.option("--signing-secret", help="The app's signing secret (default: CHEERS_SLACK_SIGNING_SECRET).")
@click.option("--wait", default=10.0, show_default=True, help="Seconds to wait for answers from workers.")
@click.pass_context
def slack_console(
    ctx: click.Context,
    text: str | None,
    click_value: str | None,
    user_id: str | None,
    channel_id: str | None,
    app_url: str | None,
    twin_url: str | None,
    signing_secret: str | None,
    wait: float,
) -> None:
    """Type `/cheers …` (or --click a button) in the sandbox Slack as `make dev` runs it; print what the bot answered
    and posted."""
    if (text is None) == (click_value is None):
        raise click.UsageError('give either a command to type ("/cheers week") or --click BUTTON')
    settings = Settings()
    target = Target(
        app_url=(app_url or settings.cheers_public_url).rstrip("/"),
        twin_url=(twin_url or settings.cheers_slack_oauth_url).rstrip("/"),
        signing_secret=signing_secret if signing_secret is not None else settings.cheers_slack_signing_secret,
        console_file=settings.cheers_var_dir / CONSOLE_FILE,
    )
    if text is not None:
        result = asyncio.run(_type(target, text, user_id, channel_id, wait))
    else:
        result = asyncio.run(_click(target, click_value or "", user_id, wait))
    if ctx.find_root().obj.get("json"):
        click.echo(to_json(result))
        return
    click.echo(result["said"])
    ack = result["ack"]
    if ack:
        click.echo(f"← the bot answered (HTTP {result['status']}, only they see it):")
        click.echo(_indented(blocks_text(ack.get("text"), ack.get("blocks"))))
    else:
        click.echo(f"← the bot acknowledged it (HTTP {result['status']}, nothing shown)")
    for item in result["activity"]:
        click.echo(f"← then {describe(item)}:")
        click.echo(_indented(blocks_text(item.get("text"), item.get("blocks"))))
    if not result["complete"]:
        click.echo(f"(no answer from a worker within {wait:g}s: it may be busy; try again with a longer --wait)")
    elif not result["activity"]:
        click.echo("(it posted nothing else)")


async def _type(target: Target, text: str, user: str | None, channel: str | None, wait: float) -> Body:
    command, _, rest = text.strip().partition(" ")
    if not command.startswith("/"):
        command, rest = "/cheers", text.strip()
    async with httpx.AsyncClient(timeout=30.0) as http:
        console = Console(target, http)
        minted = await console.mint(user, channel)
        form = {
            "token": VERIFICATION_TOKEN,
            "team_id": minted["team"]["id"],
            "team_domain": minted["team"]["domain"],
            "channel_id": minted["channel"]["id"],
            "channel_name": minted["channel"]["name"],
            "user_id": minted["user"]["id"],
            "user_name": minted["user"]["name"],
            "command": command,
            "text": rest,
            "api_app_id": minted["api_app_id"],
            "is_enterprise_install": "false",
            "response_url": minted["response_url"],
            "trigger_id": minted["trigger_id"],
        }
        after = await console.cursor()
        answer = await console.send(urlencode(form).encode())
        ack = ack_message(answer)
        # A full answer comes in the ack (with blocks); a bare "working on it" means a worker answers later.
        expect_answer = not ack.get("blocks")
        activity, complete = await console.follow(
            after, minted["response_url_id"], expect_answer=expect_answer, wait=wait
        )
    said = f"→ {minted['user']['name']} ({minted['user']['id']}) typed in #{minted['channel']['name']} "
    said += f"({minted['channel']['id']}): {command} {rest}".rstrip()
    shown_ack = {
        "kind": "ack",
        "channel": minted["channel"]["id"],
        "user": minted["user"]["id"],
        "ts": f"{time.time():.6f}",
        **ack,
    }
    remember(target, [shown_ack, *activity])
    return {"said": said, "status": answer.status_code, "ack": ack, "activity": activity, "complete": complete}


async def _click(target: Target, wanted: str, user: str | None, wait: float) -> Body:
    async with httpx.AsyncClient(timeout=30.0) as http:
        console = Console(target, http)
        message, button = find_button([*recall(target), *await console.channel_messages()], wanted)
        private = message.get("kind") in ("ack", "ephemeral")
        ts = str(message.get("ts") or message.get("message_ts"))
        clicker = user or (message.get("user") if private else None)
        minted = await console.mint(clicker, message["channel"], None if private else ts)
        action = {
            "action_id": button["action_id"],
            "block_id": _block_of(message.get("blocks") or [], button),
            "type": "button",
            "text": button["text"],
            "value": button.get("value", ""),
            "action_ts": f"{time.time():.6f}",
        }
        payload = {
            "type": "block_actions",
            "user": {"id": minted["user"]["id"], "username": minted["user"]["name"], "team_id": minted["team"]["id"]},
            "api_app_id": minted["api_app_id"],
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": message["channel"],
                "is_ephemeral": private,
            },
            "trigger_id": minted["trigger_id"],
            "team": minted["team"],
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": minted["channel"],
            "state": {"values": {}},
            "response_url": minted["response_url"],
            "actions": [action],
        }
        if not private:
            payload["message"] = minted.get("message")
        after = await console.cursor()
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
        answer = await console.send(body)
        activity, complete = await console.follow(after, minted["response_url_id"], expect_answer=True, wait=wait)
    said = f"→ {minted['user']['name']} ({minted['user']['id']}) clicked [{button['text']['text']}] "
    said += f"({button.get('value')}) in {message['channel']}"
    remember(target, activity)
    ack = ack_message(answer)
    return {"said": said, "status": answer.status_code, "ack": ack, "activity": activity, "complete": complete}


def _block_of(blocks: list[Any], button: Body) -> str:
    for index, block in enumerate(blocks):
        if button in (block.get("elements") or []) or button == block.get("accessory"):
            return str(block.get("block_id") or f"b{index}")
    return "actions"
