"""Structured logging (one JSON event per line) with secrets, codes and query strings redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
_SENSITIVE_KEYS = re.compile(
    r"(token|tokens|secret|secret_key|token_keys|password|passwd|authorization|cookie|signature|api_key|apikey"
    r"|csrf|verifier)$|^(code|state|signed_request)$",
    re.IGNORECASE,
)
_SAFE_KEYS = {"status_code", "error_code", "exit_code", "kind", "key_count"}
# Values that look like credentials wherever they appear inside a string.
_VALUE_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + REDACTED),
    (re.compile(r"\bEAA[A-Za-z0-9]{10,}"), REDACTED),  # Meta tokens
    (re.compile(r"\bya29\.[A-Za-z0-9._-]+"), REDACTED),  # Google access tokens
    (re.compile(r"\b1//[A-Za-z0-9._-]{10,}"), REDACTED),  # Google refresh tokens
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]+"), REDACTED),  # Slack tokens
    # Telegram bot tokens: in URLs PTB and httpx log (https://api.telegram.org/bot<token>/sendMessage, /file/bot…),
    # where "bot" runs straight into the digits (no \b there), also URL-encoded, and any digits:secret elsewhere.
    (re.compile(r"(/bot)\d+(?::|%3[Aa])[^/\s\"'?`]+"), r"\1" + REDACTED),
    (re.compile(r"(?<![0-9])\d{6,12}(?::|%3[Aa])[A-Za-z0-9_-]{30,}"), REDACTED),
    (re.compile(r"(The token `)[^`]*(`)"), r"\1" + REDACTED + r"\2"),  # PTB's InvalidToken, whatever its shape
    (re.compile(r"\bcheers_pat_[A-Za-z0-9_-]+"), REDACTED),  # our API tokens
    (re.compile(r"(/auth/login/)[^\s/?\"']+"), r"\1" + REDACTED),  # login links
    (re.compile(r"(?<!/api)(/media/)[^\s/?\"']+"), r"\1" + REDACTED),  # signed media links (not /api/media)
    (re.compile(r"(/packages/)[^\s/?\"']+"), r"\1" + REDACTED),  # signed manual-package links
    (re.compile(r"(\?)[^\s\"']+"), r"\1" + REDACTED),  # query strings carry codes and states
]


def redact_text(text: str) -> str:
    for pattern, replacement in _VALUE_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact(value: Any, key: str | None = None) -> Any:
    if key is not None and key not in _SAFE_KEYS and _SENSITIVE_KEYS.search(key):
        return REDACTED if value not in (None, "") else value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v) for v in value]
    return value


def redact_processor(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: redact sensitive keys and token-shaped values in every event."""
    for key in list(event_dict):
        event_dict[key] = _redact(event_dict[key], None if key == "event" else key)
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json", *, worker: bool = False) -> None:
    """Route stdlib and structlog through one redacting pipeline, one event per line.

    `worker` (a `taskiq worker` process): structlog's loggers are cached on first use (a bound logger built once,
    not on every event), and taskiq's INFO line per task run is off (we log each attempt ourselves). Tests keep
    uncached loggers: `structlog.testing.capture_logs` cannot reach a logger cached before it.
    """
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False) if fmt == "console" else structlog.processors.JSONRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=worker,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log prints raw paths with query strings; ours is structured and redacted.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("httpx", "httpcore", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if worker:
        # "Executing task … with ID …" for every run (also its start and stop lines: worker_started/_stopped say so).
        logging.getLogger("taskiq.receiver.receiver").setLevel(logging.WARNING)
