"""`/cheers schedule` with nothing after it: a modal to schedule a post (docs/slack.md, "Scheduling with the form").

Opening: the person is authorised as an editor of the chat's venue, then views.open is called with the command's
trigger_id inside the request (it expires after 3 seconds; process_before_response keeps us within it) and the
command is acked empty. A change of connections or photo updates the preview with views.update. Submitting: the
venue id in private_metadata is only a hint, so the submitter is authorised against it again through core.access;
core.chat.form.submit makes the API's create_post call; field problems go back as `response_action: errors` on
the block that causes them, and a saved post closes the modal and is confirmed privately in the chat.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from bot import render
from bot.commands import USAGE, CommandUnclear, ScheduleForm, parse_command
from bot.messages import ChatMessage
from bot.slack.blocks import escape, to_slack
from bot.slack.later import ephemeral, slack_turn
from bot.slack.privately import tell_privately
from core.access.policy import VenueAccess, authorize
from core.chat import form, people
from core.chat.form import FormChoices, FormInput, FormInvalid, PreviewLine
from core.chat.people import ChatTurn
from core.errors import DomainError, NotFound
from core.posts import views
from core.runtime import Runtime
from core.vocabulary import Role

log = structlog.get_logger(__name__)

CALLBACK_ID = "cheers_schedule"
PREVIEW = "preview"
NO_PHOTO = "none"
ACTIONS = {name: f"form_{name}" for name in (form.CONNECTIONS, form.TEXT, form.PHOTO, form.DATE, form.TIME)}
PREVIEW_ACTIONS = re.compile(rf"^({ACTIONS[form.CONNECTIONS]}|{ACTIONS[form.PHOTO]})$")
MAX_OPTION_TEXT = 75
MAX_TEXT = 3000  # Slack's longest plain_text_input; above every caption limit but Facebook's
MAX_SECTION = 3000
NOT_OPENED = "Slack didn't open the form ({error}). Type `/cheers schedule` again, or schedule in one line: {example}"


def register(app: AsyncApp, runtime: Runtime) -> None:
    """Add the form's listeners; called before the general /cheers listener so `schedule` alone reaches this one."""

    async def asks_for_form(body: dict[str, Any]) -> bool:
        try:
            return isinstance(parse_command(str(body.get("text") or "")), ScheduleForm)
        except CommandUnclear:
            return False

    @app.command("/cheers", matchers=[asks_for_form])
    async def open_form(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await _open(runtime, ack, body, client)

    @app.action(PREVIEW_ACTIONS)
    async def changed(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await _refresh_preview(runtime, body, client)

    @app.view(CALLBACK_ID)
    async def submitted(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await _submit(runtime, ack, body, client)


# --- opening -----------------------------------------------------------------------------------------------------


async def _open(runtime: Runtime, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    channel = str(body.get("channel_id") or "")
    turn = slack_turn(str(body.get("team_id") or ""), str(body.get("user_id") or ""), body.get("user_name"), channel)
    async with runtime.uow() as uow:
        person = await people.find_person(uow.session, turn)
        if not person.linked:
            await ack(**_private(render.how_to_link()))
            return
        try:
            venue = await people.venue_for_turn(
                uow.session, runtime.clock, person, turn, Role.editor, purpose="chat schedule form"
            )
            choices = await form.choices(runtime, uow.session, venue.access)
            if not choices.connections:
                raise NotFound(
                    "this venue has nothing connected to post to yet",
                    remedy="ask an owner or admin to connect its Facebook Page, Instagram or Google Business Profile",
                )
            lines = await form.preview(
                runtime, uow.session, venue.access, connection_ids=_initial_ids(choices), text="", photo_id=None
            )
        except DomainError as exc:
            await uow.rollback()
            await ack(**_private(render.refusal(exc)))
            return
        await uow.commit()  # a staff member's use of a venue is audited
    try:
        await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=form_view(choices, lines, channel))
    except (SlackApiError, TimeoutError, aiohttp.ClientError) as exc:  # the session's timeout ends a held answer
        error = str(exc.response.get("error") or "error") if isinstance(exc, SlackApiError) else "no answer in time"
        log.warning("slack_form_not_opened", error=error, team_id=turn.workspace_id)
        example = USAGE["schedule"].example
        await ack(text=NOT_OPENED.format(error=error, example=example), response_type="ephemeral")
        return
    await ack()


def _initial_ids(choices: FormChoices) -> list[int]:
    """Ticked at first: every connection that works now (one waiting for a reconnect is offered, not ticked)."""
    return [c.id for c in choices.connections if not c.needs_reconnect]


def form_view(choices: FormChoices, lines: list[PreviewLine], channel_id: str) -> dict[str, Any]:
    """The modal: connections, text, photo, day and time on the venue's clock, and what each platform gets."""
    connection_options = [
        _option(f"{c.label}{' (needs reconnecting)' if c.needs_reconnect else ''}", str(c.id))
        for c in choices.connections
    ][:100]
    ticked = [o for o, c in zip(connection_options, choices.connections, strict=False) if not c.needs_reconnect]
    connections: dict[str, Any] = {
        "type": "multi_static_select",
        "action_id": ACTIONS[form.CONNECTIONS],
        "placeholder": _plain("Where to post"),
        "options": connection_options,
    }
    if ticked:
        connections["initial_options"] = ticked
    none = _option("No photo", NO_PHOTO)
    library = [
        _option(f"{i.filename}" + (f" ({i.width}×{i.height})" if i.width and i.height else ""), str(i.id))
        for i in choices.images
    ]
    photos = [none, *library[:99]]
    blocks: list[dict[str, Any]] = [
        _section(
            f"Schedule a post for *{escape(choices.venue_name)}*. The day and time are {escape(choices.venue_name)}'s "
            f"own time ({choices.timezone}), wherever you are."
        ),
        _input(form.CONNECTIONS, "Post to", connections, dispatch=True),
        _input(
            form.TEXT,
            "Text",
            {
                "type": "plain_text_input",
                "action_id": ACTIONS[form.TEXT],
                "multiline": True,
                "max_length": MAX_TEXT,
                "placeholder": _plain("Quiz night from 8, free entry!"),
            },
        ),
        _input(
            form.PHOTO,
            "Photo from the library",
            {"type": "static_select", "action_id": ACTIONS[form.PHOTO], "options": photos, "initial_option": none},
            dispatch=True,
            optional=True,
            hint="Your newest ready photos; upload more in CheersAI's media library.",
        ),
        _input(
            form.DATE,
            "Day",
            {"type": "datepicker", "action_id": ACTIONS[form.DATE], "initial_date": choices.day.isoformat()},
        ),
        _input(
            form.TIME,
            f"Time ({choices.timezone})",
            {"type": "timepicker", "action_id": ACTIONS[form.TIME], "initial_time": choices.at.strftime("%H:%M")},
            hint=f"{choices.timezone} time. A time that doesn't exist when the clocks change is refused.",
        ),
        _preview_block(lines),
    ]
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": _plain("Schedule a post"),
        "submit": _plain("Schedule"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"venue": choices.venue_id, "channel": channel_id}),
        "blocks": blocks,
    }


def _preview_block(lines: list[PreviewLine]) -> dict[str, Any]:
    rows = [f"{':white_check_mark:' if ln.ok else ':warning:'} *{escape(ln.label)}*: {escape(ln.text)}" for ln in lines]
    text = "*What each platform gets*\n" + "\n".join(rows)
    if len(text) > MAX_SECTION:
        text = text[: MAX_SECTION - 1] + "…"
    return {**_section(text), "block_id": PREVIEW}


# --- the preview, when the connections or the photo change -------------------------------------------------------


async def _refresh_preview(runtime: Runtime, body: dict[str, Any], client: AsyncWebClient) -> None:
    view = body.get("view") or {}
    try:
        venue_id, _ = _metadata(view)
    except ValueError:
        return
    values = _values(view)
    turn = _turn_of(body, "")
    async with runtime.uow() as uow:
        try:
            access = await _authorised(runtime, uow.session, turn, venue_id)
            lines = await form.preview(
                runtime,
                uow.session,
                access,
                connection_ids=_ints(values.get(form.CONNECTIONS)),
                text=str(values.get(form.TEXT) or ""),
                photo_id=_photo_id(values.get(form.PHOTO)),
            )
        except (DomainError, ValueError):
            await uow.rollback()
            return
        await uow.commit()
    blocks = [_preview_block(lines) if b.get("block_id") == PREVIEW else b for b in view.get("blocks") or []]
    keep = ("type", "callback_id", "title", "submit", "close", "private_metadata")
    updated = {k: view[k] for k in keep if view.get(k) is not None} | {"blocks": blocks}
    try:
        await client.views_update(view_id=str(view.get("id") or ""), hash=view.get("hash"), view=updated)
    except SlackApiError as exc:  # a newer update won (hash_conflict) or the modal was closed: nothing to repair
        log.info("slack_form_preview_not_updated", error=exc.response.get("error"))
    except (TimeoutError, aiohttp.ClientError) as exc:  # the preview stays as it was; sending checks everything
        log.warning("slack_form_preview_not_updated", error=exc.__class__.__name__)


# --- submitting --------------------------------------------------------------------------------------------------


async def _submit(runtime: Runtime, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    view = body.get("view") or {}
    try:
        venue_id, channel = _metadata(view)
    except ValueError:
        log.warning("slack_form_metadata_unreadable")
        await ack(response_action="update", view=_closed_view(render.refusal(_gone())))
        return
    turn = _turn_of(body, channel)
    values = _values(view)
    try:
        filled = FormInput(
            connection_ids=_ints(values.get(form.CONNECTIONS)),
            text=str(values.get(form.TEXT) or ""),
            photo_id=_photo_id(values.get(form.PHOTO)),
            day=values.get(form.DATE) or None,
            at=values.get(form.TIME) or None,
        )
    except ValueError:
        await ack(response_action="errors", errors={form.CONNECTIONS: "Choose from the list."})
        return
    async with runtime.uow() as uow:
        try:
            access = await _authorised(runtime, uow.session, turn, venue_id)
            done = await form.submit(runtime, uow.session, access, filled)
            post = await views.post_view(uow.session, access, done.saved.post, clock=runtime.clock)
        except FormInvalid as exc:
            await uow.rollback()
            await ack(response_action="errors", errors=exc.errors)
            return
        except DomainError as exc:
            await uow.rollback()
            log.info("slack_form_refused", code=exc.code, venue_id=venue_id, user=turn.chat_user_id)
            await ack(response_action="update", view=_closed_view(render.refusal(exc)))
            return
        await uow.commit()
    log.info("slack_form_scheduled", post_id=done.saved.post.id, venue_id=venue_id, user=turn.chat_user_id)
    await ack()  # closes the modal; the post is saved
    await tell_privately(
        client,
        turn.chat_id,
        turn.chat_user_id,
        render.scheduled(done.saved.message, post, done.left_out),
        what="schedule_form",
    )


async def _authorised(runtime: Runtime, session: AsyncSession, turn: ChatTurn, venue_id: int) -> VenueAccess:
    """The submitting person's editor access to `venue_id`, checked again (the modal's metadata proves nothing)."""
    person = await people.find_person(session, turn)
    if not person.linked:
        raise _gone()
    return await authorize(session, runtime.clock, person.actor, venue_id, Role.editor, purpose="chat schedule form")


def _gone() -> NotFound:
    return NotFound("venue not found", remedy="close this form and type `/cheers schedule` again in your venue's chat")


# --- reading the view --------------------------------------------------------------------------------------------


def _metadata(view: dict[str, Any]) -> tuple[int, str]:
    data = json.loads(str(view.get("private_metadata") or "{}"))
    if not isinstance(data, dict) or not isinstance(data.get("venue"), int):
        raise ValueError("no venue in the form's metadata")
    return data["venue"], str(data.get("channel") or "")


def _values(view: dict[str, Any]) -> dict[str, Any]:
    """Each field's value from view.state.values, by field name (ids as strings, dates and times as typed)."""
    state = (view.get("state") or {}).get("values") or {}
    out: dict[str, Any] = {}
    for name, action_id in ACTIONS.items():
        element = (state.get(name) or {}).get(action_id) or {}
        if "selected_options" in element:
            out[name] = [str(o.get("value")) for o in element["selected_options"] or []]
        elif "selected_option" in element:
            out[name] = str((element["selected_option"] or {}).get("value") or "") or None
        elif "selected_date" in element:
            out[name] = element["selected_date"]
        elif "selected_time" in element:
            out[name] = element["selected_time"]
        else:
            out[name] = element.get("value")
    return out


def _ints(values: Any) -> list[int]:
    """Option values as ids; anything else was not one of our options (ValueError)."""
    out = []
    for value in values or []:
        if not str(value).isdigit() or len(str(value)) > 18:
            raise ValueError(f"not an id: {value!r}")
        out.append(int(value))
    return out


def _photo_id(value: Any) -> int | None:
    if value in (None, "", NO_PHOTO):
        return None
    return _ints([value])[0]


def _turn_of(body: dict[str, Any], channel: str) -> ChatTurn:
    user = body.get("user") or {}
    team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
    return slack_turn(team, str(user.get("id") or ""), user.get("username") or user.get("name"), channel)


# --- Block Kit pieces --------------------------------------------------------------------------------------------


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _option(text: str, value: str) -> dict[str, Any]:
    shown = text if len(text) <= MAX_OPTION_TEXT else text[: MAX_OPTION_TEXT - 1] + "…"
    return {"text": _plain(shown), "value": value}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _input(
    name: str, label: str, element: dict[str, Any], *, dispatch: bool = False, optional: bool = False, hint: str = ""
) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": name, "label": _plain(label), "element": element}
    if dispatch:
        block["dispatch_action"] = True
    if optional:
        block["optional"] = True
    if hint:
        block["hint"] = _plain(hint)
    return block


def _closed_view(message: ChatMessage) -> dict[str, Any]:
    """The modal replaced by a refusal (no submit button): what happened and what to do."""
    blocks = to_slack(message)["blocks"]
    return {"type": "modal", "title": _plain("Can't schedule"), "close": _plain("Close"), "blocks": blocks}


def _private(message: ChatMessage) -> dict[str, Any]:
    body = ephemeral(message)
    return {"text": body["text"], "blocks": body["blocks"], "response_type": "ephemeral"}
