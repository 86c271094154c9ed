"""The guided flow driven directly (bot/telegram/flow.py), as the webhook's handlers call it: each update a real PTB
`Update` from Telegram's JSON, handled in its own unit of work with an `Inbound`, committed, its replies kept.

`Chat` keeps the bot's messages as the replies leave them (said, edited in place, buttons replaced), so a test
clicks a button by its label and gets the step data that button carries. `FileHost` answers getFile and serves
files as the Bot API does (real HTTP on a free port), with the faults the flow must refuse.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from PIL import Image
from telegram import Update

from bot.dispatch import handle_turn
from bot.messages import ChatMessage
from bot.telegram import flow
from bot.telegram.callbacks import Step, parse_data
from bot.telegram.inbound import Inbound
from bot.telegram.replies import AnswerCallback, Edit, Key, Say
from core.chat import linking
from core.chat.people import ChatTurn
from core.runtime import Runtime
from core.settings import Settings
from core.vocabulary import ChatPlatform, Provider, Role
from tests import factories
from tests.conftest import make_settings

TOKEN = "7000000001:AAHsandbox-bot-token-for-cheersai-twin01"
BOT_ID = "7000000001"
USER = 501
_updates = itertools.count(1000)


def jpeg(width: int = 800, height: int = 600, *, noise: int = 0) -> bytes:
    """A real JPEG (the library sniffs the bytes), different per `noise` so two are not the same file."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40 + noise % 200, 40)).save(out, "JPEG", quality=90)
    return out.getvalue()


@dataclass
class HostedFile:
    content: bytes
    file_path: str
    declared_size: int | None


@dataclass
class FileHost:
    """getFile and /file/bot<token>/<path> like the Bot API; every request is recorded (method, path)."""

    url: str = ""
    files: dict[str, HostedFile] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def add(self, file_id: str, content: bytes, *, file_path: str | None = None, declared: int | None = -1) -> None:
        size = len(content) if declared == -1 else declared
        self.files[file_id] = HostedFile(content, file_path or f"photos/{file_id}.jpg", size)

    async def _get_file(self, request: web.Request) -> web.Response:
        self.requests.append(f"getFile {request.match_info['token'] == TOKEN}")
        form = await request.post()
        hosted = self.files.get(str(form.get("file_id") or ""))
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if hosted is None:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}, status=400
            )
        result: dict[str, Any] = {"file_id": form["file_id"], "file_unique_id": "u", "file_path": hosted.file_path}
        if hosted.declared_size is not None:
            result["file_size"] = hosted.declared_size
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.requests.append(f"file {path}")
        hosted = next((f for f in self.files.values() if f.file_path == path), None)
        if hosted is None or request.match_info["token"] != TOKEN:
            return web.Response(status=404)
        response = web.StreamResponse()  # chunked: no Content-Length, so only counting what arrives catches a lie
        await response.prepare(request)
        for start in range(0, len(hosted.content), 64 * 1024):
            await response.write(hosted.content[start : start + 64 * 1024])
        await response.write_eof()
        return response

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_post("/bot{token}/getFile", self._get_file)
        application.router.add_get("/file/bot{token}/{path:.+}", self._download)
        return application


@pytest.fixture
async def file_host() -> AsyncIterator[FileHost]:
    host = FileHost()
    runner = web.AppRunner(host.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    host.url = f"http://127.0.0.1:{port}"
    try:
        yield host
    finally:
        await runner.cleanup()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, file_host: FileHost) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        cheers_telegram_bot_token=TOKEN,
        cheers_telegram_api_url=file_host.url,
        cheers_telegram_bot_username="cheers_sandbox_bot",
        cheers_telegram_max_photo_mb=1,
        cheers_telegram_flow_minutes=30,
    )


@dataclass
class Shown:
    """One bot message as the chat shows it now."""

    message_id: int
    message: ChatMessage
    keys: tuple[tuple[Key, ...], ...]
    edited: int = 0

    @property
    def text(self) -> str:
        m = self.message
        return "\n".join([m.title, *m.lines, *(f"{k}: {v}" for k, v in m.fields), *(i.text for i in m.items)])

    @property
    def labels(self) -> list[str]:
        return [k.label for row in self.keys for k in row]


@dataclass
class Chat:
    """A person in their private chat with the bot (or in a group when `chat_id` differs), driving the flow."""

    runtime: Runtime
    user_id: int = USER
    chat_id: int = USER
    shown: list[Shown] = field(default_factory=list)
    toasts: list[str | None] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def turn(self) -> ChatTurn:
        return ChatTurn(
            ChatPlatform.telegram, BOT_ID, str(self.user_id), "Sam", str(self.chat_id), self.chat_id == self.user_id
        )

    @property
    def last(self) -> Shown:
        return self.shown[-1]

    def _chat(self) -> dict[str, Any]:
        if self.chat_id == self.user_id:
            return {"id": self.chat_id, "type": "private", "first_name": "Sam"}
        return {"id": self.chat_id, "type": "group", "title": "The Red Lion staff"}

    def _message(self, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._ids) + 10_000,
            "date": int(self.runtime.clock.now().timestamp()),
            "chat": self._chat(),
            "from": {"id": self.user_id, "is_bot": False, "first_name": "Sam"},
            **content,
        }

    async def _handle(self, data: dict[str, Any], action: Any) -> Any:
        update = Update.de_json(data, None)
        async with self.runtime.uow() as uow:
            inbound = Inbound(self.runtime, uow, self.turn)
            result = await action(inbound, update)
            await uow.commit()
        self._apply(inbound)
        return result

    def _apply(self, inbound: Inbound) -> None:
        for reply in inbound.replies.items:
            if isinstance(reply, Say):
                self.shown.append(Shown(next(self._ids), reply.message, reply.keyboard))
            elif isinstance(reply, Edit):
                target = next(s for s in self.shown if s.message_id == reply.message_id)
                target.message, target.keys, target.edited = reply.message, reply.keyboard, target.edited + 1
            elif isinstance(reply, AnswerCallback):
                self.toasts.append(reply.text)

    async def schedule(self) -> None:
        """`/schedule` typed."""
        text = self._message(text="/schedule", entities=[{"type": "bot_command", "offset": 0, "length": 9}])
        await self._handle({"update_id": next(_updates), "message": text}, flow.start)

    async def says(self, text: str) -> bool:
        """A text message; what on_message answered (False: no flow was waiting)."""
        data = {"update_id": next(_updates), "message": self._message(text=text)}
        return bool(await self._handle(data, flow.on_message))

    async def sends_photo(self, file_id: str, *, size: int | None) -> bool:
        photo: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"uniq-{file_id}", "width": 800, "height": 600}
        if size is not None:
            photo["file_size"] = size
        data = {"update_id": next(_updates), "message": self._message(photo=[photo])}
        return bool(await self._handle(data, flow.on_message))

    async def sends_file(self, file_id: str, *, name: str, mime_type: str) -> bool:
        """A file sent as a document (a photo sent "as a file" keeps its name and full size)."""
        document = {"file_id": file_id, "file_unique_id": f"uniq-{file_id}", "file_name": name, "mime_type": mime_type}
        data = {"update_id": next(_updates), "message": self._message(document=document)}
        return bool(await self._handle(data, flow.on_message))

    async def cancels(self) -> bool:
        async def go(inbound: Inbound, update: Update) -> bool:
            return await flow.cancel(inbound)

        data = {"update_id": next(_updates), "message": self._message(text="/cancel")}
        return bool(await self._handle(data, go))

    def key(self, label: str, shown: Shown | None = None) -> tuple[Shown, Step]:
        """The button labelled `label` (on `shown`, else the newest message having one) and its step."""
        for candidate in [shown] if shown else reversed(self.shown):
            for row in candidate.keys:
                for k in row:
                    if k.label == label:
                        step = parse_data(k.data)
                        assert isinstance(step, Step), k.data
                        return candidate, step
        raise AssertionError(f"no button {label!r}; shown: {[s.labels for s in self.shown]}")

    async def clicks(self, label: str, *, shown: Shown | None = None) -> None:
        message, step = self.key(label, shown)
        await self.press(message, step, label)

    async def press(self, message: Shown, step: Step, label: str = "") -> None:
        """Press a button carrying `step` on `message` (even one no longer shown: a stale button)."""
        query = {
            "id": f"cq-{next(_updates)}",
            "from": {"id": self.user_id, "is_bot": False, "first_name": "Sam"},
            "chat_instance": "ci-1",
            "data": f"f1:{step.conversation_id}:{step.version}:{step.choice}",
            "message": {
                "message_id": message.message_id,
                "date": int(self.runtime.clock.now().timestamp()),
                "chat": self._chat(),
                "from": {"id": int(BOT_ID), "is_bot": True, "first_name": "CheersAI"},
                "text": message.message.title,
            },
        }

        async def go(inbound: Inbound, update: Update) -> None:
            await flow.on_step(inbound, update, step)

        await self._handle({"update_id": next(_updates), "callback_query": query}, go)


@dataclass
class Pub:
    venue_id: int
    facebook: int
    google: int
    editor: factories.Person


@pytest.fixture
async def pub(runtime: Runtime) -> Pub:
    """The Red Lion (London) with Facebook and Google connected, and an editor linked to Telegram user 501."""
    venue_id = await factories.venue(runtime, name="The Red Lion")
    facebook = await factories.connection(runtime, venue_id, access_token="fb")
    google = await factories.connection(runtime, venue_id, access_token="gb", provider=Provider.google_business)
    editor = await factories.person(runtime, venue_id=venue_id, role=Role.editor, name="Sam")
    await link(runtime, editor, Chat(runtime).turn)
    return Pub(venue_id, facebook, google, editor)


async def link(runtime: Runtime, who: factories.Person, turn: ChatTurn) -> None:
    async with runtime.uow() as uow:
        issued = await linking.issue_link_code(uow.session, runtime.clock, factories.SYSTEM, who.user_id)
        await uow.commit()
    async with runtime.uow() as uow:
        answer = await handle_turn(runtime, uow, turn, f"link {issued.code}")
        await uow.commit()
    assert answer.title.startswith("Linked"), answer


@pytest.fixture
def chat(runtime: Runtime, pub: Pub) -> Chat:
    return Chat(runtime)
