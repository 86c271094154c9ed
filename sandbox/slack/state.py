"""The Slack twin's world and its rules: who a token acts as, where a message may go, pacing, faults, reading.

The Web API methods (sandbox/slack/api.py), the HTTP layer and control interface (sandbox/slack/twin.py) and
the tests share this one truth. Time comes from the twin's clock (sandbox.clock.TwinClock), so trigger_id
expiry, OAuth codes, response_url lifetimes and per-channel pacing follow the test's clock.
"""

from __future__ import annotations

import base64
import math
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sandbox.clock import TwinClock
from sandbox.slack.blocks import message_errors
from sandbox.slack.model import (
    CODE_TTL_SECONDS,
    MAX_TEXT,
    RESPONSE_URL_TTL_SECONDS,
    RESPONSE_URL_USES,
    Answer,
    App,
    AuthCode,
    Bucket,
    CallRecord,
    Channel,
    Edit,
    Ephemeral,
    Fault,
    File,
    Install,
    Message,
    Pacing,
    ResponseUrl,
    SlackError,
    Team,
    Trigger,
    User,
    View,
    random_string,
    slack_id,
)

DEFAULT_APP_ID = "A0CHEERSAI"
DEFAULT_CLIENT_ID = "1000000000001.2000000000002"
DEFAULT_CLIENT_SECRET = "sandbox-slack-client-secret"
DEFAULT_SIGNING_SECRET = "sandbox-slack-signing-secret"
DEV_BOT_TOKEN = "xoxb-1000000000001-3000000000003-sandboxdevbottoken000000"  # installed at start (make dev)
BOT_SCOPES = (
    "channels:read",
    "chat:write",
    "commands",
    "files:write",
    "groups:read",
    "im:read",
    "im:write",
    "users:read",
)


class SlackTwinState:
    """Everything the twin knows; reset() returns to the default scenario with the dev bot token installed."""

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        signing_secret: str = DEFAULT_SIGNING_SECRET,
        clock: TwinClock | None = None,
    ) -> None:
        self.clock = clock or TwinClock()
        self.app = App(DEFAULT_APP_ID, client_id, client_secret, signing_secret)
        self.reset()

    # -- world ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Default scenario, the dev token installed, no messages, faults or calls; pacing and clock reset."""
        self.clock.reset()
        self.faults: list[Fault] = []
        self.calls: list[CallRecord] = []
        self.pacing = Pacing()
        self._buckets: dict[str, Bucket] = {}
        self.auto_approve = False  # the authorize page redirects at once instead of showing Allow
        self.consent_user: str | None = None  # who approves (None: the workspace's first admin)
        self.consent_team: str | None = None
        self.activity: list[dict[str, Any]] = []  # what the app did, in order (GET /_twin/activity?after=N)
        self.load_scenario(default_scenario())
        self.install(self.default_team().id, token=DEV_BOT_TOKEN)

    def load_scenario(self, spec: dict[str, Any]) -> None:
        """Replace workspaces, people and channels; installs, messages, views and files start empty."""
        self.teams: dict[str, Team] = {}
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.installs: dict[str, Install] = {}
        self.codes: dict[str, AuthCode] = {}
        self.triggers: dict[str, Trigger] = {}
        self.views: dict[str, View] = {}
        self.home: dict[str, str] = {}  # user id → the App Home view published for them
        self.file_store: dict[str, File] = {}
        self.uploads: dict[str, str] = {}  # upload URL id → file id
        self.messages: dict[str, list[Message]] = {}
        self.ephemeral_log: list[Ephemeral] = []
        self.response_urls: dict[str, ResponseUrl] = {}
        self.revocations: list[dict[str, Any]] = []
        self._last_ts = 0.0
        self._buckets = {}
        for t in spec.get("teams", []):
            team = Team(id=t.get("id") or slack_id("T"), name=t["name"], domain=t.get("domain", t["name"].lower()))
            team.bot_user_id = t.get("bot_user_id") or slack_id("U")
            team.bot_id = t.get("bot_id") or slack_id("B")
            self.teams[team.id] = team
            bot = User(team.bot_user_id, team.id, "cheersai", self.app.name, is_bot=True)
            self.users[bot.id] = bot
            for u in t.get("users", []):
                user = User(
                    id=u.get("id") or slack_id("U"),
                    team_id=team.id,
                    name=u["name"],
                    real_name=u.get("real_name", u["name"]),
                    is_admin=bool(u.get("is_admin", False)),
                    tz=u.get("tz", "Europe/London"),
                    email=u.get("email"),
                )
                self.users[user.id] = user
            people = [u.id for u in self.users.values() if u.team_id == team.id and not u.is_bot]
            for c in t.get("channels", []):
                members = list(c.get("members", people))
                if c.get("bot_member", True):
                    members.append(team.bot_user_id)
                channel = Channel(
                    id=c.get("id") or slack_id("C"),
                    team_id=team.id,
                    name=c["name"],
                    is_private=bool(c.get("is_private", False)),
                    is_archived=bool(c.get("is_archived", False)),
                    members=members,
                    created=self.epoch(),
                )
                self.channels[channel.id] = channel

    def default_team(self) -> Team:
        return next(iter(self.teams.values()))

    def now(self) -> datetime:
        return self.clock.now()

    def epoch(self) -> float:
        return self.now().timestamp()

    def new_ts(self) -> str:
        """A message ts: the twin's time in microseconds, strictly increasing (ts is a message's id)."""
        ts = max(round(self.epoch(), 6), round(self._last_ts + 0.000001, 6))
        self._last_ts = ts
        return f"{ts:.6f}"

    # -- tokens --------------------------------------------------------------------------------

    def install(
        self,
        team_id: str,
        *,
        scopes: list[str] | None = None,
        installer_id: str | None = None,
        token: str | None = None,
    ) -> Install:
        """Install the app in a workspace: a new bot token with `scopes` (default: the app's bot scopes)."""
        team = self.teams[team_id]
        installer = installer_id or self.first_admin(team_id).id
        value = token or f"xoxb-{team.id[1:]}-{team.bot_user_id[1:]}-{random_string(24)}"
        grant = Install(
            token=value,
            team_id=team_id,
            app_id=self.app.id,
            bot_user_id=team.bot_user_id,
            bot_id=team.bot_id,
            scopes=list(scopes if scopes is not None else BOT_SCOPES),
            installer_id=installer,
            issued_at=self.now(),
        )
        self.installs[value] = grant
        return grant

    def first_admin(self, team_id: str) -> User:
        people = [u for u in self.users.values() if u.team_id == team_id and not u.is_bot]
        return next((u for u in people if u.is_admin), people[0])

    def check_token(self, value: str | None) -> Install:
        """The live install behind a token, or the error Slack gives for it."""
        if not value:
            raise SlackError("not_authed")
        grant = self.installs.get(value)
        if grant is None:
            raise SlackError("invalid_auth")
        if grant.revoked:
            raise SlackError("token_revoked")
        if not self.teams[grant.team_id].active:
            raise SlackError("account_inactive")
        return grant

    def revoke(self, *, token: str | None = None, team_id: str | None = None, via: str = "control") -> int:
        """Revoke one token, or every token of a workspace (the app uninstalled). Returns how many."""
        hit = 0
        for grant in self.installs.values():
            if grant.revoked or not ((token and grant.token == token) or (team_id and grant.team_id == team_id)):
                continue
            grant.revoked, grant.revoked_via = True, via
            hit += 1
            self.revocations.append({"team_id": grant.team_id, "via": via, "at": self.now().isoformat()})
        return hit

    def issue_code(self, team_id: str, user_id: str, scopes: list[str], redirect_uri: str | None) -> AuthCode:
        code = AuthCode(
            code=f"{team_id[1:]}.{random_string(20)}",
            client_id=self.app.client_id,
            redirect_uri=redirect_uri,
            team_id=team_id,
            user_id=user_id,
            scopes=scopes,
            issued_at=self.now(),
        )
        self.codes[code.code] = code
        return code

    def redeem_code(self, value: str | None, redirect_uri: str | None) -> AuthCode:
        code = self.codes.get(value or "")
        if code is None or code.used or self.now() - code.issued_at > timedelta(seconds=CODE_TTL_SECONDS):
            raise SlackError("invalid_code")
        if code.redirect_uri is not None and redirect_uri != code.redirect_uri:
            raise SlackError("bad_redirect_uri")
        code.used = True
        return code

    # -- channels ------------------------------------------------------------------------------

    def channel(self, ref: str | None, grant: Install) -> Channel:
        """A channel by id, name or #name in the token's workspace; a user id means the DM with that user."""
        if not ref:
            raise SlackError("channel_not_found")
        if ref.startswith(("U", "W")) and ref in self.users:
            return self.open_dm(grant, [ref])
        name = ref.removeprefix("#")
        found = self.channels.get(ref) or next(
            (c for c in self.channels.values() if c.name == name and c.team_id == grant.team_id and not c.is_im), None
        )
        if found is None or found.team_id != grant.team_id:
            raise SlackError("channel_not_found")
        if found.is_private and grant.bot_user_id not in found.members:
            raise SlackError("channel_not_found")  # a private channel the bot is not in does not exist for it
        return found

    def writable(self, ref: str | None, grant: Install) -> Channel:
        """A channel the bot may post to: not archived, and joined unless chat:write.public was granted."""
        channel = self.channel(ref, grant)
        if channel.is_archived:
            raise SlackError("is_archived")
        if grant.bot_user_id not in channel.members and "chat:write.public" not in grant.scopes:
            raise SlackError("not_in_channel")
        return channel

    def open_dm(self, grant: Install, user_ids: list[str]) -> Channel:
        """The DM (one person) or group DM (several) of the bot with these people, made on first use."""
        for user_id in user_ids:
            user = self.users.get(user_id)
            if user is None or user.team_id != grant.team_id:
                raise SlackError("user_not_found")
            if user.deleted:
                raise SlackError("user_disabled")
        members = sorted({*user_ids, grant.bot_user_id})
        for channel in self.channels.values():
            if (
                (channel.is_im or channel.is_mpim)
                and channel.team_id == grant.team_id
                and sorted(channel.members) == members
            ):
                return channel
        mpim = len(user_ids) > 1
        channel = Channel(
            id=slack_id("G" if mpim else "D"),
            team_id=grant.team_id,
            name="mpdm-" + "--".join(self.users[u].name for u in user_ids) if mpim else user_ids[0],
            is_private=True,
            is_im=not mpim,
            is_mpim=mpim,
            members=members,
            created=self.epoch(),
        )
        self.channels[channel.id] = channel
        return channel

    def archive(self, channel_id: str) -> None:
        self.channels[channel_id].is_archived = True

    def delete_channel(self, channel_id: str) -> None:
        """The channel is deleted: channel_not_found from now on (its messages stay readable to tests)."""
        self.channels.pop(channel_id)

    def deactivate(self, team_id: str) -> None:
        """The workspace is gone: every token of it answers account_inactive."""
        self.teams[team_id].active = False

    def chat_info(self, channel: Channel, grant: Install) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": channel.id,
            "created": int(channel.created),
            "is_archived": channel.is_archived,
            "is_im": channel.is_im,
            "is_mpim": channel.is_mpim,
            "is_private": channel.is_private,
            "context_team_id": channel.team_id,
        }
        if channel.is_im:
            out["user"] = next(m for m in channel.members if m != grant.bot_user_id)
            return out
        return {
            **out,
            "name": channel.name,
            "is_channel": not channel.is_private and not channel.is_mpim,
            "is_group": channel.is_private and not channel.is_mpim,
            "is_general": channel.name == "general",
            "is_member": grant.bot_user_id in channel.members,
            "num_members": len(channel.members),
        }

    # -- messages ------------------------------------------------------------------------------

    def pace(self, channel_id: str) -> None:
        """Take one message from the channel's bucket, or refuse with 429 and how long until one is free."""
        if not self.pacing.enabled:
            return
        now = self.now()
        bucket = self._buckets.get(channel_id) or Bucket(float(self.pacing.burst), now)
        elapsed = max(0.0, (now - bucket.at).total_seconds())
        bucket.tokens = min(float(self.pacing.burst), bucket.tokens + elapsed * self.pacing.per_second)
        bucket.at = now
        self._buckets[channel_id] = bucket
        if bucket.tokens < 1.0:
            wait = max(1, math.ceil((1.0 - bucket.tokens) / self.pacing.per_second))
            raise SlackError("ratelimited", status=429, headers={"Retry-After": str(wait)})
        bucket.tokens -= 1.0

    def content(self, text: Any, blocks: Any, *, required: bool = True) -> tuple[str, list[Any] | None]:
        """Check a message's text and blocks the way Slack does; returns them as stored."""
        if blocks is not None:
            errors = message_errors(blocks)
            if errors:
                raise SlackError(
                    "invalid_blocks", errors=errors, response_metadata={"messages": [f"[ERROR] {e}" for e in errors]}
                )
        text = "" if text is None else str(text)
        if required and not text and not blocks:
            raise SlackError("no_text")
        if len(text) > MAX_TEXT:
            raise SlackError("msg_too_long")
        return text, blocks

    def post(
        self,
        channel: Channel,
        grant: Install,
        text: str,
        blocks: list[Any] | None,
        *,
        thread_ts: str | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        files: list[str] | None = None,
        via: str = "api",
    ) -> Message:
        message = Message(
            channel=channel.id,
            ts=self.new_ts(),
            text=text,
            user=grant.bot_user_id,
            bot_id=grant.bot_id,
            blocks=blocks,
            thread_ts=thread_ts or None,
            unfurl_links=unfurl_links,
            unfurl_media=unfurl_media,
            files=list(files or []),
            via=via,
        )
        self.messages.setdefault(channel.id, []).append(message)
        self.record("message", channel=channel.id, ts=message.ts, thread_ts=message.thread_ts, text=text, via=via)
        return message

    def find_message(self, channel_id: str, ts: str | None) -> Message:
        found = next((m for m in self.messages.get(channel_id, []) if m.ts == ts and not m.deleted), None)
        if found is None:
            raise SlackError("message_not_found")
        return found

    def edit(self, message: Message, text: str, blocks: list[Any] | None) -> None:
        message.edits.append(Edit(self.now(), message.text, message.blocks))
        message.text, message.blocks = text, blocks
        self.record("edit", channel=message.channel, ts=message.ts, text=text)

    def delete(self, message: Message) -> None:
        message.deleted = True
        self.record("delete", channel=message.channel, ts=message.ts)

    def ephemeral(
        self, channel: Channel, user_id: str, text: str, blocks: list[Any] | None, *, thread_ts: str | None, via: str
    ) -> Ephemeral:
        note = Ephemeral(channel.id, user_id, self.new_ts(), text, blocks, thread_ts, via)
        self.ephemeral_log.append(note)
        self.record("ephemeral", channel=channel.id, user=user_id, message_ts=note.message_ts, text=text, via=via)
        return note

    def record(self, kind: str, **fields: Any) -> None:
        """Note one thing the app did (a message, edit, delete, ephemeral, response_url answer, view, file)."""
        self.activity.append({"seq": len(self.activity) + 1, "at": self.now().isoformat(), "kind": kind, **fields})

    def activity_after(self, seq: int) -> list[dict[str, Any]]:
        """What the app did after the `seq`-th thing (0: everything since the twin started or was reset)."""
        return self.activity[max(0, seq) :]

    # -- interactions (what the sender hands the app) -------------------------------------------

    def mint_interaction(
        self, *, team_id: str, user_id: str, channel_id: str | None, message_ts: str | None = None
    ) -> tuple[Trigger, ResponseUrl]:
        """A trigger_id and a response_url for one slash command or interaction, as Slack hands them out."""
        now = self.now()
        trigger = Trigger(f"{int(now.timestamp())}.{team_id[1:]}.{random_string(32).lower()}", team_id, user_id, now)
        self.triggers[trigger.id] = trigger
        response_url = ResponseUrl(random_string(24), team_id, channel_id or "", user_id, now, message_ts)
        self.response_urls[response_url.id] = response_url
        return trigger, response_url

    def respond(self, rid: str, body: dict[str, Any]) -> None:
        """Apply one POST to a response_url: an ephemeral (default), a channel message, a replace or a delete."""
        target = self.response_urls.get(rid)
        if target is None:
            raise SlackError("no_such_url", status=404)
        if self.now() - target.issued_at > timedelta(seconds=RESPONSE_URL_TTL_SECONDS):
            raise SlackError("expired_url", status=404)
        if len(target.answers) >= RESPONSE_URL_USES:
            raise SlackError("used_url", status=404)
        text, blocks = self.content(body.get("text"), body.get("blocks"), required=not body.get("delete_original"))
        target.answers.append(Answer(self.now(), body))
        self.record("answer", response_url_id=rid, body=body)
        channel = self.channels.get(target.channel)
        team = self.teams[target.team_id]
        grant = Install("", team.id, self.app.id, team.bot_user_id, team.bot_id, [], "", self.now())
        original = None
        if target.message_ts and channel is not None:
            original = next((m for m in self.messages.get(channel.id, []) if m.ts == target.message_ts), None)
        if body.get("delete_original"):
            if original is not None:
                self.delete(original)
            return
        if body.get("replace_original") and original is not None:
            self.edit(original, text, blocks)
            return
        if channel is None:
            return
        thread_ts = body.get("thread_ts")
        if body.get("response_type") == "in_channel":
            self.post(channel, grant, text, blocks, thread_ts=thread_ts, via="response_url")
        else:
            self.ephemeral(channel, target.user, text, blocks, thread_ts=thread_ts, via="response_url")

    # -- faults ---------------------------------------------------------------------------------

    def take_fault(self, method: str, *, after: bool = False) -> Fault | None:
        """The first armed fault for `method`, counting one use; `after`: only the faults that strike once applied."""
        for fault in self.faults:
            if (fault.kind == "lost") != after:
                continue
            if fault.remaining > 0 and (fault.method is None or fault.method == method):
                fault.remaining -= 1
                return fault
        return None

    # -- reading (tests and the inspection API) -------------------------------------------------

    def channel_messages(self, channel: str, *, include_deleted: bool = False) -> list[Message]:
        """Every message posted in a channel (by id, or name without #), oldest first, thread replies included."""
        channel_id = self._channel_id(channel)
        return [m for m in self.messages.get(channel_id, []) if include_deleted or not m.deleted]

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        return [m for m in self.channel_messages(channel) if m.thread_ts == thread_ts]

    def ephemerals(self, user: str | None = None, channel: str | None = None) -> list[Ephemeral]:
        channel_id = self._channel_id(channel) if channel else None
        return [
            e
            for e in self.ephemeral_log
            if (user is None or e.user == user) and (channel_id is None or e.channel == channel_id)
        ]

    def opened_views(self, user: str | None = None, kind: str | None = None) -> list[View]:
        return [
            v for v in self.views.values() if (user is None or v.user_id == user) and (kind is None or v.type == kind)
        ]

    def files(self) -> list[File]:
        return list(self.file_store.values())

    def file_content(self, file_id: str) -> bytes:
        encoded = self.file_store[file_id].content_b64
        return base64.b64decode(encoded) if encoded else b""

    def answers(self, response_url_id: str) -> list[Answer]:
        return list(self.response_urls[response_url_id].answers)

    def dm_channel(self, user_id: str, team_id: str | None = None) -> str | None:
        """The id of the bot's DM with a person, if one was opened."""
        team = self.teams[team_id] if team_id else self.default_team()
        members = sorted({user_id, team.bot_user_id})
        return next((c.id for c in self.channels.values() if c.is_im and sorted(c.members) == members), None)

    def _channel_id(self, ref: str) -> str:
        if ref in self.channels or ref in self.messages:
            return ref
        return next((c.id for c in self.channels.values() if c.name == ref.removeprefix("#")), ref)

    # -- keeping (sandbox.persist) ---------------------------------------------------------------

    def durable(self) -> dict[str, Any]:
        """What survives a restart (`make dev`): the world, installs, messages, views and files; not faults,
        calls, pacing buckets or the clock offset."""
        return {name: getattr(self, name) for name in _DURABLE}

    def restore(self, saved: dict[str, Any]) -> None:
        for name in _DURABLE:
            if name in saved:
                setattr(self, name, saved[name])

    def snapshot(self) -> dict[str, Any]:
        """What GET /_twin/state answers (JSON-ready); file contents are left out (GET /_twin/files has sizes)."""

        def iso(value: datetime) -> str:
            return value.isoformat()

        return {
            "now": iso(self.now()),
            "app": asdict(self.app),
            "teams": [asdict(t) for t in self.teams.values()],
            "users": [asdict(u) for u in self.users.values()],
            "channels": [asdict(c) for c in self.channels.values()],
            "installs": [{**asdict(i), "issued_at": iso(i.issued_at)} for i in self.installs.values()],
            "revocations": list(self.revocations),
            "pacing": asdict(self.pacing),
            "faults": [asdict(f) for f in self.faults if f.remaining > 0],
            "calls": [asdict(c) for c in self.calls],
        }


_DURABLE = (
    "teams",
    "users",
    "channels",
    "installs",
    "codes",
    "views",
    "home",
    "file_store",
    "uploads",
    "messages",
    "ephemeral_log",
    "response_urls",
    "revocations",
    "_last_ts",
)


def default_scenario() -> dict[str, Any]:
    """What the twin starts with: one pub's workspace, its owner, a manager and a viewer, and a few channels."""
    return {
        "teams": [
            {
                "id": "T0SANDBOX1",
                "name": "The Red Lion",
                "domain": "red-lion",
                "bot_user_id": "U0CHEERSBOT",
                "bot_id": "B0CHEERSBOT",
                "users": [
                    {"id": "U0OWNER001", "name": "sam", "real_name": "Sam Owner", "is_admin": True},
                    {"id": "U0MANAGER1", "name": "mo", "real_name": "Mo Manager"},
                    {"id": "U0VIEWER01", "name": "vic", "real_name": "Vic Viewer"},
                ],
                "channels": [
                    {"id": "C0GENERAL1", "name": "general"},
                    {"id": "C0ALERTS01", "name": "alerts"},
                    {"id": "C0KITCHEN1", "name": "kitchen", "is_private": True, "members": ["U0OWNER001"]},
                    {"id": "C0RANDOM01", "name": "random", "bot_member": False},
                    {"id": "C0OLDNEWS1", "name": "old-news", "is_archived": True},
                ],
            }
        ]
    }
