"""The Slack twin's Web API methods: `call()` takes a parsed request and answers like slack.com/api/<method>.

Framework-free, as the Meta twin's graph.py: sandbox/slack/twin.py parses HTTP (query string, form or JSON body,
Bearer or Basic auth) into `ApiRequest` and turns the result or `SlackError` into the HTTP answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.slack.blocks import view_errors
from sandbox.slack.model import TRIGGER_TTL_SECONDS, File, Install, SlackError, View, random_string, slack_id
from sandbox.slack.state import SlackTwinState

Body = dict[str, Any]


@dataclass
class ApiRequest:
    method: str  # e.g. "chat.postMessage"
    params: dict[str, Any]  # query string, then form or JSON body on top (JSON keeps its types)
    token: str | None
    client: tuple[str, str] | None  # (client_id, client_secret) from HTTP Basic auth
    base_url: str  # the twin's origin as the client reached it, for upload URLs


class Params:
    """Typed access to a request's arguments, however they were encoded."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def text(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict | list) else str(value)

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise SlackError(
                "invalid_arguments", response_metadata={"messages": [f"[ERROR] missing required field: {name}"]}
            )
        return value

    def flag(self, name: str) -> bool | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes")

    def structured(self, name: str) -> Any:
        """A structured argument: sent as JSON inside a JSON body, or as a JSON string in a form or query."""
        value = self.raw.get(name)
        if isinstance(value, str):
            if not value:
                return None
            try:
                return json.loads(value)
            except ValueError as exc:
                raise SlackError(f"invalid_{name}") from exc
        return value


Handler = Callable[[SlackTwinState, Install | None, Params, ApiRequest], Body]


def _scope(grant: Install, *needed: str) -> None:
    """missing_scope unless the token holds one of `needed` (Slack lists what it needed and what it has)."""
    if not any(s in grant.scopes for s in needed):
        raise SlackError("missing_scope", needed=",".join(needed), provided=",".join(grant.scopes))


def _need(grant: Install | None) -> Install:
    if grant is None:  # unreachable: methods marked as needing a token get one checked before they run
        raise SlackError("not_authed")
    return grant


# -- auth and install --------------------------------------------------------------------------------


def auth_test(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    team = state.teams[g.team_id]
    return {
        "url": f"https://{team.domain}.slack.com/",
        "team": team.name,
        "user": state.users[g.bot_user_id].name,
        "team_id": team.id,
        "user_id": g.bot_user_id,
        "bot_id": g.bot_id,
        "is_enterprise_install": False,
    }


def auth_revoke(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    if p.flag("test"):
        return {"revoked": False}
    state.revoke(token=g.token, via="auth.revoke")
    return {"revoked": True}


def _client(state: SlackTwinState, p: Params, req: ApiRequest) -> None:
    client_id, client_secret = req.client or (p.text("client_id"), p.text("client_secret"))
    if client_id != state.app.client_id:
        raise SlackError("invalid_client_id")
    if client_secret != state.app.client_secret:
        raise SlackError("bad_client_secret")


def apps_uninstall(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    _client(state, p, req)
    state.revoke(team_id=g.team_id, via="apps.uninstall")
    return {}


def oauth_v2_access(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    _client(state, p, req)
    code = state.redeem_code(p.text("code"), p.text("redirect_uri"))
    install = state.install(code.team_id, scopes=code.scopes, installer_id=code.user_id)
    team = state.teams[code.team_id]
    return {
        "access_token": install.token,
        "token_type": "bot",
        "scope": ",".join(install.scopes),
        "bot_user_id": install.bot_user_id,
        "app_id": state.app.id,
        "team": {"id": team.id, "name": team.name},
        "enterprise": None,
        "is_enterprise_install": False,
        "authed_user": {"id": code.user_id},
    }


# -- chat ----------------------------------------------------------------------------------------------


def chat_post_message(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    _scope(g, "chat:write")
    channel = state.writable(p.text("channel"), g)
    text, blocks = state.content(p.raw.get("text"), p.structured("blocks"))
    state.pace(channel.id)
    message = state.post(
        channel,
        g,
        text,
        blocks,
        thread_ts=p.text("thread_ts"),
        unfurl_links=p.flag("unfurl_links"),
        unfurl_media=p.flag("unfurl_media"),
    )
    return {"channel": channel.id, "ts": message.ts, "message": message.as_slack(g.team_id)}


def chat_update(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    _scope(g, "chat:write")
    channel = state.channel(p.text("channel"), g)
    message = state.find_message(channel.id, p.text("ts"))
    if message.user != g.bot_user_id:
        raise SlackError("cant_update_message")
    if channel.is_archived:
        raise SlackError("is_archived")
    text_arg = p.raw.get("text")
    blocks_arg = p.structured("blocks")
    text = message.text if text_arg is None else text_arg
    blocks = message.blocks if "blocks" not in p.raw else blocks_arg
    if blocks == []:
        blocks = None  # an empty blocks array removes the blocks (how an app takes its buttons away)
    text, blocks = state.content(text, blocks)
    state.edit(message, text, blocks)
    return {"channel": channel.id, "ts": message.ts, "text": text, "message": message.as_slack(g.team_id)}


def chat_post_ephemeral(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    _scope(g, "chat:write")
    channel = state.writable(p.text("channel"), g)
    user = p.required("user")
    if user not in channel.members:
        raise SlackError("user_not_in_channel")
    text, blocks = state.content(p.raw.get("text"), p.structured("blocks"))
    note = state.ephemeral(channel, user, text, blocks, thread_ts=p.text("thread_ts"), via="api")
    return {"message_ts": note.message_ts}


def chat_delete(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    _scope(g, "chat:write")
    channel = state.channel(p.text("channel"), g)
    message = state.find_message(channel.id, p.text("ts"))
    if message.user != g.bot_user_id:
        raise SlackError("cant_delete_message")
    state.delete(message)
    return {"channel": channel.id, "ts": message.ts}


def chat_get_permalink(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    channel = state.channel(p.text("channel"), g)
    message = state.find_message(channel.id, p.text("message_ts"))
    domain = state.teams[g.team_id].domain
    return {
        "channel": channel.id,
        "permalink": f"https://{domain}.slack.com/archives/{channel.id}/p{message.ts.replace('.', '')}",
    }


# -- conversations and users ------------------------------------------------------------------------------


def conversations_open(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    users = [u.strip() for u in (p.text("users") or "").split(",") if u.strip()]
    if p.text("channel"):
        channel = state.channel(p.text("channel"), g)
        return {"channel": state.chat_info(channel, g) if p.flag("return_im") else {"id": channel.id}}
    if not users:
        raise SlackError("users_list_not_supplied")
    if len(users) > 8:
        raise SlackError("too_many_users")
    _scope(g, "mpim:write" if len(users) > 1 else "im:write")
    channel = state.open_dm(g, users)
    return {"channel": state.chat_info(channel, g) if p.flag("return_im") else {"id": channel.id}}


def conversations_info(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    channel = state.channel(p.text("channel"), g)
    if channel.is_im:
        _scope(g, "im:read")
    elif channel.is_mpim:
        _scope(g, "mpim:read")
    else:
        _scope(g, "groups:read" if channel.is_private else "channels:read")
    return {"channel": state.chat_info(channel, g)}


def users_info(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    _scope(g, "users:read")
    user = state.users.get(p.text("user") or "")
    if user is None or user.team_id != g.team_id:
        raise SlackError("user_not_found")
    profile: Body = {"real_name": user.real_name, "display_name": user.name}
    if user.email is not None and "users:read.email" in g.scopes:
        profile["email"] = user.email
    return {
        "user": {
            "id": user.id,
            "team_id": user.team_id,
            "name": user.name,
            "real_name": user.real_name,
            "deleted": user.deleted,
            "is_admin": user.is_admin,
            "is_bot": user.is_bot,
            "tz": user.tz,
            "profile": profile,
        }
    }


# -- views ----------------------------------------------------------------------------------------------


def _view_arg(p: Params) -> dict[str, Any]:
    view = p.structured("view")
    errors = view_errors(view)
    if errors:
        raise SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
    assert isinstance(view, dict)  # view_errors refuses anything else
    return view


def _hash(state: SlackTwinState) -> str:
    return f"{int(state.epoch())}.{random_string(8)}"


def views_open(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    trigger = state.triggers.get(p.text("trigger_id") or p.text("interactivity_pointer") or "")
    if trigger is None or trigger.team_id != g.team_id:
        raise SlackError("invalid_trigger_id")
    if (state.now() - trigger.issued_at).total_seconds() > TRIGGER_TTL_SECONDS:
        raise SlackError("expired_trigger_id")
    if trigger.used:
        raise SlackError("exchanged_trigger_id")
    view = _view_arg(p)
    if view.get("type") != "modal":
        raise SlackError(
            "invalid_arguments", response_metadata={"messages": ["[ERROR] must be a modal [json-pointer:/view/type]"]}
        )
    trigger.used = True
    opened = View(slack_id("V"), g.team_id, trigger.user_id, "modal", view, _hash(state), view.get("external_id"))
    state.views[opened.id] = opened
    state.record("view", action="open", id=opened.id, user=opened.user_id, type="modal")
    return {"view": opened.as_slack(state.app.id, g.bot_id)}


def _find_view(state: SlackTwinState, g: Install, p: Params) -> View:
    view_id, external_id = p.text("view_id"), p.text("external_id")
    found = (
        state.views.get(view_id or "")
        if view_id
        else next((v for v in state.views.values() if external_id and v.external_id == external_id), None)
    )
    if found is None or found.team_id != g.team_id:
        raise SlackError("not_found")
    return found


def views_update(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    found = _find_view(state, g, p)
    view = _view_arg(p)
    if p.text("hash") and p.text("hash") != found.hash:
        raise SlackError("hash_conflict")
    found.history.append(found.view)
    found.view, found.hash = view, _hash(state)
    state.record("view", action="update", id=found.id, user=found.user_id, type=found.type)
    return {"view": found.as_slack(state.app.id, g.bot_id)}


def views_publish(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    user_id = p.required("user_id")
    user = state.users.get(user_id)
    if user is None or user.team_id != g.team_id:
        raise SlackError("user_not_found")
    view = _view_arg(p)
    if view.get("type") != "home":
        raise SlackError(
            "invalid_arguments", response_metadata={"messages": ["[ERROR] must be home [json-pointer:/view/type]"]}
        )
    current = state.views.get(state.home.get(user_id, ""))
    if current is None:
        current = View(slack_id("V"), g.team_id, user_id, "home", view, _hash(state))
        state.views[current.id] = current
        state.home[user_id] = current.id
    else:
        if p.text("hash") and p.text("hash") != current.hash:
            raise SlackError("hash_conflict")
        current.history.append(current.view)
        current.view, current.hash = view, _hash(state)
    state.record("view", action="publish", id=current.id, user=user_id, type="home")
    return {"view": current.as_slack(state.app.id, g.bot_id)}


# -- files ------------------------------------------------------------------------------------------------


def files_get_upload_url(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    _scope(g, "files:write")
    filename = p.required("filename")
    try:
        length = int(p.required("length"))
    except ValueError as exc:
        raise SlackError("invalid_arguments") from exc
    if length <= 0:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] length must be positive"]})
    upload_id = random_string(32)
    record = File(slack_id("F"), g.team_id, filename, length, upload_id, state.now(), alt_txt=p.text("alt_txt"))
    state.file_store[record.id] = record
    state.uploads[upload_id] = record.id
    return {"upload_url": f"{req.base_url}/upload/v1/{upload_id}", "file_id": record.id}


def files_complete_upload(state: SlackTwinState, grant: Install | None, p: Params, req: ApiRequest) -> Body:
    g = _need(grant)
    _scope(g, "files:write")
    items = p.structured("files")
    if not isinstance(items, list) or not items:
        raise SlackError(
            "invalid_arguments", response_metadata={"messages": ["[ERROR] files must be a non-empty array"]}
        )
    records: list[File] = []
    for item in items:
        record = state.file_store.get(str(item.get("id", ""))) if isinstance(item, dict) else None
        if record is None or record.team_id != g.team_id or record.uploaded_bytes is None or record.completed:
            raise SlackError("file_not_found")
        records.append(record)
    channel_ref = p.text("channel_id") or (p.text("channels") or "").split(",")[0] or None
    channel = state.writable(channel_ref, g) if channel_ref else None
    for item, record in zip(items, records, strict=True):
        record.title = item.get("title") or record.filename
        record.completed = True
    if channel is not None:
        comment = p.text("initial_comment") or ""
        thread_ts = p.text("thread_ts")
        files, blocks = [r.id for r in records], p.structured("blocks")
        message = state.post(channel, g, comment, blocks, thread_ts=thread_ts, files=files, via="upload")
        for record in records:
            record.shares.append({"channel": channel.id, "thread_ts": thread_ts, "ts": message.ts})
            state.record("file", id=record.id, filename=record.filename, channel=channel.id, thread_ts=thread_ts)
    return {"files": [{"id": r.id, "title": r.title, "name": r.filename, "size": r.uploaded_bytes} for r in records]}


METHODS: dict[str, tuple[Handler, bool]] = {
    # method → (handler, needs a token)
    "auth.test": (auth_test, True),
    "auth.revoke": (auth_revoke, True),
    "apps.uninstall": (apps_uninstall, True),
    "oauth.v2.access": (oauth_v2_access, False),
    "chat.postMessage": (chat_post_message, True),
    "chat.update": (chat_update, True),
    "chat.postEphemeral": (chat_post_ephemeral, True),
    "chat.delete": (chat_delete, True),
    "chat.getPermalink": (chat_get_permalink, True),
    "conversations.open": (conversations_open, True),
    "conversations.info": (conversations_info, True),
    "users.info": (users_info, True),
    "views.open": (views_open, True),
    "views.update": (views_update, True),
    "views.publish": (views_publish, True),
    "files.getUploadURLExternal": (files_get_upload_url, True),
    "files.completeUploadExternal": (files_complete_upload, True),
}


def call(state: SlackTwinState, req: ApiRequest) -> Body:
    """Run one Web API method; raises SlackError with the code Slack would answer."""
    entry = METHODS.get(req.method)
    if entry is None:
        raise SlackError("unknown_method", status=404)
    handler, needs_token = entry
    grant = state.check_token(req.token) if needs_token else None
    return {"ok": True, **handler(state, grant, Params(req.params), req)}
