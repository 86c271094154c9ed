"""The Bot API methods the twin serves, on TelegramTwinState: each takes the call's arguments and uploaded files
and returns the `result`, or raises TelegramError with Telegram's error_code and description.

Arguments arrive as JSON (types kept) or as form fields (strings; python-telegram-bot sends JSON-encoded values
for everything that is not a string), so every argument is read through the small coercions below.
getUpdates waits (long polling) and lives in sandbox/telegram/twin.py.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.telegram.model import MAX_CAPTION, MAX_DOWNLOAD, Chat, Message, TelegramError, bad_request
from sandbox.telegram.state import TelegramTwinState

Params = dict[str, Any]


@dataclass
class Upload:
    """A file sent in a multipart request: its form field, file name, content type and bytes."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class ApiCall:
    method: str
    params: Params
    uploads: dict[str, Upload] = field(default_factory=dict)


def structured(value: Any) -> Any:
    """A form value that carries JSON (reply_markup, allowed_updates, commands …) decoded; JSON bodies as given."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def flag(value: Any) -> bool:
    """A boolean argument: JSON true/false, or the form strings "true"/"false"."""
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def integer(params: Params, name: str) -> int | None:
    """An integer argument (JSON number or form string); None when missing."""
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def _chat(state: TelegramTwinState, params: Params) -> Chat:
    """The `chat_id` argument's chat: empty → "chat_id is empty"; unknown, or an @username → "chat not found"."""
    value = params.get("chat_id")
    if value is None or value == "":
        raise bad_request("chat_id is empty")
    return state.chat(value)


def _reply_to(params: Params) -> int | None:
    parameters = structured(params.get("reply_parameters"))
    if isinstance(parameters, dict) and parameters.get("message_id") is not None:
        return int(parameters["message_id"])
    return integer(params, "reply_to_message_id")


def _preview_disabled(params: Params) -> bool:
    options = structured(params.get("link_preview_options"))
    if isinstance(options, dict) and options.get("is_disabled"):
        return True
    return flag(params.get("disable_web_page_preview", False))


def _checked_reply(state: TelegramTwinState, chat_id: int, reply_to: int | None, params: Params) -> int | None:
    if reply_to is None:
        return None
    exists = any(m.message_id == reply_to and not m.deleted for m in state.messages.get(chat_id, []))
    parameters = structured(params.get("reply_parameters"))
    allow = isinstance(parameters, dict) and flag(parameters.get("allow_sending_without_reply", False))
    if not exists and not (allow or flag(params.get("allow_sending_without_reply", False))):
        raise bad_request("message to be replied not found")
    return reply_to if exists else None


def get_me(state: TelegramTwinState, call: ApiCall) -> Any:
    """getMe: the bot."""
    return {
        **state.bot_user(),
        "can_join_groups": True,
        "can_read_all_group_messages": not state.privacy_mode,  # privacy mode is on unless turned off
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def send_message(state: TelegramTwinState, call: ApiCall) -> Any:
    """sendMessage."""
    params = call.params
    chat = state.writable(_chat(state, params))
    plain, html, entities = state.parse_text(params.get("text"), params.get("parse_mode"))
    if html is None and params.get("entities"):
        entities = list(structured(params["entities"]))
    markup = state.check_markup(structured(params.get("reply_markup")))
    reply_to = _checked_reply(state, chat.id, _reply_to(params), params)
    message = state.add_message(
        Message(
            chat.id,
            state.next_message_id(chat.id),
            state.epoch(),
            state.bot_id,
            True,
            text=plain,
            html=html,
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            link_preview_disabled=_preview_disabled(params),
        )
    )
    return state.message_json(message)


def _bot_message(state: TelegramTwinState, params: Params, *, missing: str) -> Message:
    if params.get("inline_message_id"):
        raise bad_request("the sandbox twin has no inline messages")
    chat = state.writable(_chat(state, params))
    message = state.find_message(chat.id, params.get("message_id"), missing=missing)
    if not message.by_bot:
        raise bad_request("message can't be edited")
    return message


_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a current "
    "content and reply markup of the message"
)


def edit_message_text(state: TelegramTwinState, call: ApiCall) -> Any:
    """editMessageText: "not modified" when nothing changes; the keyboard goes unless given again."""
    params = call.params
    message = _bot_message(state, params, missing="message to edit not found")
    if message.text is None:
        raise bad_request("there is no text in the message to edit")
    plain, html, entities = state.parse_text(params.get("text"), params.get("parse_mode"))
    # Telegram drops the inline keyboard of a message edited without one.
    markup = state.check_markup(structured(params.get("reply_markup")))
    if (plain, entities, markup) == (message.text, message.entities, message.reply_markup):
        raise bad_request(_NOT_MODIFIED)
    message.text, message.html, message.entities, message.reply_markup = plain, html, entities, markup
    message.link_preview_disabled = _preview_disabled(params)
    message.edits += 1
    message.edit_date = state.epoch()
    return state.message_json(message)


def edit_message_reply_markup(state: TelegramTwinState, call: ApiCall) -> Any:
    """editMessageReplyMarkup."""
    params = call.params
    message = _bot_message(state, params, missing="message to edit not found")
    markup = state.check_markup(structured(params.get("reply_markup")))
    if markup == message.reply_markup:
        raise bad_request(_NOT_MODIFIED)
    message.reply_markup = markup
    message.edits += 1
    message.edit_date = state.epoch()
    return state.message_json(message)


def delete_message(state: TelegramTwinState, call: ApiCall) -> Any:
    """deleteMessage: marked deleted (still readable through the control API)."""
    params = call.params
    chat = state.writable(_chat(state, params))
    message = state.find_message(chat.id, params.get("message_id"), missing="message to delete not found")
    if not message.by_bot and chat.type == "private":
        raise bad_request("message can't be deleted for everyone")
    message.deleted = True
    return True


def answer_callback_query(state: TelegramTwinState, call: ApiCall) -> Any:
    """answerCallbackQuery: once, within 15 seconds of the click."""
    params = call.params
    text = params.get("text")
    if text is not None and len(str(text)) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    answer = {
        "text": text,
        "show_alert": flag(params.get("show_alert", False)),
        "url": params.get("url"),
        "cache_time": integer(params, "cache_time") or 0,
        "at": state.now().isoformat(),
    }
    state.answer_callback(str(params.get("callback_query_id", "")), answer)
    return True


def send_document(state: TelegramTwinState, call: ApiCall) -> Any:
    """sendDocument."""
    params = call.params
    chat = state.writable(_chat(state, params))
    document = _document(state, call)
    return _captioned(state, params, chat, document=document)


def _uploaded(call: ApiCall, name: str) -> Upload | None:
    """The file sent for argument `name`: its own multipart part, or the part `attach://<part>` names."""
    value = call.params.get(name)
    if isinstance(value, str) and value.startswith("attach://"):
        return call.uploads.get(value.removeprefix("attach://"))
    return call.uploads.get(name)


def _captioned(state: TelegramTwinState, params: Params, chat: Any, **media: Any) -> Any:
    """A bot message carrying a file (`document=` or `photo=`), with its caption, buttons and reply checked."""
    caption, html, entities = _caption(state, params)
    markup = state.check_markup(structured(params.get("reply_markup")))
    reply_to = _checked_reply(state, chat.id, _reply_to(params), params)
    message = state.add_message(
        Message(
            chat.id,
            state.next_message_id(chat.id),
            state.epoch(),
            state.bot_id,
            True,
            html=html,
            reply_markup=markup,
            caption=caption,
            caption_entities=entities,
            reply_to_message_id=reply_to,
            **media,
        )
    )
    return state.message_json(message)


def _caption(state: TelegramTwinState, params: Params) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    if not params.get("caption"):
        return None, None, []
    return state.parse_text(params.get("caption"), params.get("parse_mode"), limit=MAX_CAPTION, caption=True)


def send_photo(state: TelegramTwinState, call: ApiCall) -> Any:
    """A photo from the bot: uploaded (stored in sizes as a person's photo is) or a photo size's file_id."""
    params = call.params
    chat = state.writable(_chat(state, params))
    upload = _uploaded(call, "photo")
    value = params.get("photo")
    if upload is not None:
        sizes = state.photo_sizes(upload.data)
    elif isinstance(value, str) and (known := state.photo_with(value)) is not None:
        sizes = known
    elif isinstance(value, str) and value in state.files:
        raise bad_request("can't use file of type Document as Photo")
    elif value:
        raise bad_request("wrong file identifier/HTTP URL specified")
    else:
        raise bad_request("there is no photo in the request")
    return _captioned(state, params, chat, photo=sizes)


def _document(state: TelegramTwinState, call: ApiCall) -> dict[str, Any]:
    """The document argument: an uploaded file (the `document` part, or `attach://name`) or a known file_id."""
    value = call.params.get("document")
    upload = _uploaded(call, "document")
    if upload is not None:
        if not upload.data:
            raise bad_request("file must be non-empty")
        name = upload.filename or "document"
        mime = upload.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        suffix = "." + name.rsplit(".", 1)[1] if "." in name else ""
        stored = state.store_file(upload.data, "documents", suffix, file_name=name, mime_type=mime)
    elif isinstance(value, str) and value in state.files:
        stored = state.files[value]
    elif value:
        raise bad_request("wrong file identifier/HTTP URL specified")
    else:
        raise bad_request("there is no document in the request")
    return {
        "file_name": stored.file_name,
        "mime_type": stored.mime_type,
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
    }


def get_file(state: TelegramTwinState, call: ApiCall) -> Any:
    """getFile: the path the file is downloaded from."""
    stored = state.files.get(str(call.params.get("file_id", "")))
    if stored is None:
        raise bad_request("invalid file_id")
    if stored.size > MAX_DOWNLOAD:
        raise bad_request("file is too big")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
        "file_path": stored.file_path,
    }


def send_chat_action(state: TelegramTwinState, call: ApiCall) -> Any:
    """sendChatAction ("typing" …): checked like sending."""
    state.writable(_chat(state, call.params))
    if not call.params.get("action"):
        raise bad_request("action is empty")
    return True


def get_chat(state: TelegramTwinState, call: ApiCall) -> Any:
    """getChat."""
    chat = _chat(state, call.params)
    if chat.id in state.kicked:
        state.writable(chat)
    return {**chat.as_telegram(), "accent_color_id": 0, "max_reaction_count": 11}


def set_webhook(state: TelegramTwinState, call: ApiCall) -> Any:
    """setWebhook (an empty url deletes it)."""
    params = call.params
    allowed = structured(params.get("allowed_updates"))
    state.set_webhook(
        str(params.get("url") or ""),
        params.get("secret_token"),
        list(allowed) if isinstance(allowed, list) else None,
        drop=flag(params.get("drop_pending_updates", False)),
        max_connections=integer(params, "max_connections") or 40,
    )
    return True


def delete_webhook(state: TelegramTwinState, call: ApiCall) -> Any:
    """deleteWebhook."""
    state.set_webhook("", None, drop=flag(call.params.get("drop_pending_updates", False)))
    return True


def get_webhook_info(state: TelegramTwinState, call: ApiCall) -> Any:
    """getWebhookInfo."""
    return state.webhook_info()


def _scope_key(params: Params) -> str:
    scope = structured(params.get("scope")) or {"type": "default"}
    return json.dumps({"scope": scope, "language_code": params.get("language_code") or ""}, sort_keys=True)


def set_my_commands(state: TelegramTwinState, call: ApiCall) -> Any:
    """setMyCommands, per scope and language."""
    commands = structured(call.params.get("commands"))
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("commands must be an array of at most 100 BotCommand")
    for command in commands:
        name = str(command.get("command", "")) if isinstance(command, dict) else ""
        description = str(command.get("description", "")) if isinstance(command, dict) else ""
        if not (1 <= len(name) <= 32 and all(c.islower() or c.isdigit() or c == "_" for c in name)):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    state.commands[_scope_key(call.params)] = [
        {"command": c["command"], "description": c["description"]} for c in commands
    ]
    return True


def get_my_commands(state: TelegramTwinState, call: ApiCall) -> Any:
    """getMyCommands."""
    return state.commands.get(_scope_key(call.params), [])


def delete_my_commands(state: TelegramTwinState, call: ApiCall) -> Any:
    """deleteMyCommands."""
    state.commands.pop(_scope_key(call.params), None)
    return True


METHODS: dict[str, Callable[[TelegramTwinState, ApiCall], Any]] = {
    "getme": get_me,
    "sendmessage": send_message,
    "editmessagetext": edit_message_text,
    "editmessagereplymarkup": edit_message_reply_markup,
    "deletemessage": delete_message,
    "answercallbackquery": answer_callback_query,
    "senddocument": send_document,
    "sendphoto": send_photo,
    "getfile": get_file,
    "sendchataction": send_chat_action,
    "getchat": get_chat,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "setmycommands": set_my_commands,
    "getmycommands": get_my_commands,
    "deletemycommands": delete_my_commands,
}


def call(state: TelegramTwinState, request: ApiCall) -> Any:
    """Run one method (names are case-insensitive, as on Telegram); unknown ones are 404 Not Found."""
    handler = METHODS.get(request.method.lower())
    if handler is None:
        raise TelegramError(404, "Not Found")
    return handler(state, request)


__all__ = ["METHODS", "ApiCall", "Upload", "call", "flag", "integer", "structured"]
