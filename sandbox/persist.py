"""Keep a twin's state in a JSON file so it survives a restart (`make dev`); without a file it lives in memory.

The twins' state is plain dataclasses, dicts, lists, sets, tuples and datetimes. `encode` turns it into JSON
with small type tags and `decode` turns it back, rebuilding only dataclasses defined under `sandbox.` (the file
is ours, but a stray file must not make us import arbitrary modules). A field the code no longer has is
dropped and a new one takes its default, so a state file outlives small changes to the twins.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

FORMAT_VERSION = 1
_TAG = "__twin__"  # the key that marks a tagged value; the twins' own dicts never use it


class StateFileError(Exception):
    """A state file that cannot be read back (corrupt, or from an incompatible version)."""


def encode(value: Any) -> Any:
    """A JSON-ready copy of `value` (a clock or any other object raises TypeError: time is never state)."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, datetime):
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, timedelta):
        return {_TAG: "timedelta", "v": value.total_seconds()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {_TAG: "dataclass", "cls": f"{kind.__module__}:{kind.__qualname__}", "v": fields}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [encode(v) for v in value]}
    if isinstance(value, set | frozenset):
        return {_TAG: "set", "v": sorted((encode(v) for v in value), key=json.dumps)}
    if isinstance(value, deque):
        return {_TAG: "deque", "v": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and _TAG not in value:
            return {k: encode(v) for k, v in value.items()}
        return {_TAG: "pairs", "v": [[encode(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"a twin's state cannot hold {type(value).__name__}")


def decode(value: Any) -> Any:
    """The inverse of `encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: decode(v) for k, v in value.items()}
    raw: Any = value.get("v")
    if tag == "datetime":
        return datetime.fromisoformat(raw)
    if tag == "timedelta":
        return timedelta(seconds=raw)
    if tag == "tuple":
        return tuple(decode(v) for v in raw)
    if tag == "set":
        return {decode(v) for v in raw}
    if tag == "deque":
        return deque(decode(v) for v in raw)
    if tag == "pairs":
        return {decode(k): decode(v) for k, v in raw}
    if tag == "dataclass":
        return _dataclass(str(value.get("cls")), raw)
    raise StateFileError(f"unknown tag {tag!r}")


def _dataclass(name: str, raw: dict[str, Any]) -> Any:
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith("sandbox."):
        raise StateFileError(f"{name} is not a twin's class")
    try:
        kind: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            kind = getattr(kind, part)
    except (ImportError, AttributeError) as exc:
        raise StateFileError(f"{name} no longer exists") from exc
    if not (isinstance(kind, type) and dataclasses.is_dataclass(kind)):
        raise StateFileError(f"{name} is not a dataclass")
    known = {f.name: f for f in dataclasses.fields(kind)}
    values = {k: decode(v) for k, v in raw.items() if k in known}
    init = {k: v for k, v in values.items() if known[k].init}
    try:
        obj = kind(**init)
    except TypeError as exc:  # a required field the file does not have
        raise StateFileError(f"{name}: {exc}") from exc
    for k, v in values.items():
        if not known[k].init:
            setattr(obj, k, v)
    return obj


class StateFile:
    """One twin's state on disk: `load` once at start, `save` after every request (written only on change)."""

    def __init__(
        self, path: Path, *, twin: str, dump: Callable[[], dict[str, Any]], restore: Callable[[dict[str, Any]], None]
    ) -> None:
        self.path = path
        self.twin = twin
        self._dump = dump
        self._restore = restore
        self._written: str | None = None

    def load(self) -> bool:
        """Restore the saved state; False when there is none. An unreadable file is set aside, and the twin
        starts from its default scenario (a sandbox must start even when its old state cannot be read)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return False
        try:
            doc = json.loads(text)
            if doc.get("version") != FORMAT_VERSION or doc.get("twin") != self.twin:
                raise StateFileError(f"version {doc.get('version')!r} of twin {doc.get('twin')!r}")
            self._restore(decode(doc["state"]))
        except (StateFileError, ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = self.path.with_suffix(".unreadable.json")
            os.replace(self.path, aside)
            log.warning(
                "twin_state_unreadable", twin=self.twin, path=str(self.path), kept_as=str(aside), error=str(exc)
            )
            return False
        self._written = text
        log.info("twin_state_loaded", twin=self.twin, path=str(self.path))
        return True

    def save(self) -> None:
        """Write the state if it changed since the last write: to a temporary file, then renamed over the old
        one, so a process killed mid-write leaves the previous state, never half a file."""
        text = json.dumps({"version": FORMAT_VERSION, "twin": self.twin, "state": encode(self._dump())})
        if text == self._written:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(text)
        os.replace(partial, self.path)
        self._written = text


def kept(
    app: Any,
    path: Path | None,
    *,
    twin: str,
    dump: Callable[[], dict[str, Any]],
    restore: Callable[[dict[str, Any]], None],
) -> tuple[Any, StateFile | None]:
    """With a path: load the saved state now and wrap the app to save after each request. Without: as given."""
    if path is None:
        return app, None
    state_file = StateFile(path, twin=twin, dump=dump, restore=restore)
    state_file.load()
    return saving_after_each_request(app, state_file), state_file


def saving_after_each_request(app: Any, state_file: StateFile) -> Any:
    """Wrap a twin's ASGI app so its state is written once each HTTP request has been answered.

    Tokens are issued on GETs too (Meta's /me/accounts), so every request counts; an unchanged state costs one
    JSON encoding and no write.
    """

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        finally:
            if scope.get("type") == "http":
                state_file.save()

    return wrapped


__all__ = ["StateFile", "StateFileError", "decode", "encode", "kept", "saving_after_each_request"]
