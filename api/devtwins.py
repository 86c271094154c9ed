"""`make dev`: run the sandbox twins beside the app and point the settings at them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from telegram.error import BadRequest, TelegramError

from bot.telegram.application import register_webhook
from bot.telegram.client import open_bot
from core.settings import Settings
from sandbox.google.twin import running_google_twin
from sandbox.meta.twin import running_meta_twin
from sandbox.resend.state import DEV_API_KEY as RESEND_DEV_API_KEY
from sandbox.resend.twin import running_resend_twin
from sandbox.slack.twin import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SIGNING_SECRET,
    DEV_BOT_TOKEN,
    running_slack_twin,
)
from sandbox.telegram.state import DEV_BOT_TOKEN as TELEGRAM_DEV_BOT_TOKEN
from sandbox.telegram.state import DEV_BOT_USERNAME as TELEGRAM_DEV_BOT_USERNAME
from sandbox.telegram.state import DEV_WEBHOOK_SECRET as TELEGRAM_DEV_WEBHOOK_SECRET
from sandbox.telegram.twin import running_telegram_twin

log = structlog.get_logger(__name__)

META_APP = ("sandbox-facebook-app", "sandbox-facebook-secret")
GOOGLE_APP = ("sandbox-google-client", "sandbox-google-secret")


def twin_settings(meta_url: str, google_url: str) -> dict[str, str]:
    """Every provider setting, pointed at the twins (origins may carry a path; these need none)."""
    return {
        "cheers_graph_url": meta_url,
        "cheers_facebook_dialog_url": meta_url,
        "cheers_facebook_app_id": META_APP[0],
        "cheers_facebook_app_secret": META_APP[1],
        "cheers_google_auth_url": google_url,
        "cheers_google_token_url": google_url,
        "cheers_gbp_accounts_url": google_url,
        "cheers_gbp_info_url": google_url,
        "cheers_gbp_posts_url": google_url,
        "cheers_google_client_id": GOOGLE_APP[0],
        "cheers_google_client_secret": GOOGLE_APP[1],
    }


def slack_twin_settings(slack_url: str) -> dict[str, str]:
    """The Slack app's settings, pointed at the Slack twin: its app credentials, and single-workspace mode with the
    bot token the twin installs at start, so `/cheers` works without adding the app first."""
    return {
        "cheers_slack_api_url": f"{slack_url}/api/",
        "cheers_slack_oauth_url": slack_url,
        "cheers_slack_client_id": DEFAULT_CLIENT_ID,
        "cheers_slack_client_secret": DEFAULT_CLIENT_SECRET,
        "cheers_slack_signing_secret": DEFAULT_SIGNING_SECRET,
        "cheers_slack_bot_token": DEV_BOT_TOKEN,
    }


def telegram_twin_settings(telegram_url: str) -> dict[str, str]:
    """The Telegram bot's settings, pointed at the Telegram twin: its API origin, the twin's bot token, the webhook
    secret `make dev` registers with the twin, and the bot's username (for t.me deep links)."""
    return {
        "cheers_telegram_api_url": telegram_url,
        "cheers_telegram_bot_token": TELEGRAM_DEV_BOT_TOKEN,
        "cheers_telegram_webhook_secret": TELEGRAM_DEV_WEBHOOK_SECRET,
        "cheers_telegram_bot_username": TELEGRAM_DEV_BOT_USERNAME,
    }


DEV_OPS_EMAILS = "ops@cheers.test"
RESEND_SETTINGS = ("cheers_resend_api_url", "cheers_resend_api_key")


def resend_twin_settings(resend_url: str) -> dict[str, str]:
    """E-mail through the Resend twin (its inbox is the twin's `/`), with ops incidents mailed to a sandbox address."""
    return {
        "cheers_resend_api_url": resend_url,
        "cheers_resend_api_key": RESEND_DEV_API_KEY,
        "cheers_ops_emails": DEV_OPS_EMAILS,
    }


def twins_dir(var_dir: Path) -> Path:
    """Where `make dev` keeps the twins' state between runs (delete it to start the sandbox afresh)."""
    return var_dir / "twins"


@contextlib.asynccontextmanager
async def sandbox_twins(settings: Settings, var_dir: Path, base_port: int) -> AsyncIterator[Settings]:
    """Start the twins on base_port+1 (Meta), +2 (Google), +3 (Slack), +4 (Telegram) and +5 (Resend); yield settings
    pointing at them unless set explicitly.

    The twins keep their state (tokens they issued, Pages, locations, published posts) in var/twins/, so the
    connections made in one run still work in the next, whichever ports the twins get."""
    kept = twins_dir(var_dir)
    async with (
        running_meta_twin(port=base_port + 1, state_file=kept / "meta.json") as (meta_url, _meta_control, _meta),
        running_google_twin(port=base_port + 2, state_file=kept / "google.json") as (google_url, _google_control, _g),
        running_slack_twin(port=base_port + 3, state_file=kept / "slack.json") as (slack_url, _slack_control, _s),
        running_telegram_twin(port=base_port + 4, state_file=kept / "telegram.json") as (telegram_url, _tg_control, _t),
        running_resend_twin(port=base_port + 5, state_file=kept / "resend.json") as (resend_url, _mail_control, _m),
    ):
        wanted = twin_settings(meta_url, google_url) | slack_twin_settings(slack_url)
        wanted |= telegram_twin_settings(telegram_url)
        explicit = settings.model_fields_set
        mail = resend_twin_settings(resend_url)
        if explicit & set(RESEND_SETTINGS):
            # Your own Resend URL or key: both stay yours (a real key is never sent to the twin, nor the reverse).
            mail = {k: v for k, v in mail.items() if k not in RESEND_SETTINGS}
        wanted |= mail
        overrides = {k: v for k, v in wanted.items() if k not in explicit}
        # Other `cheers` commands (connections connect, diagnose) read this file to find the twins.
        written = {**overrides, "cheers_public_url": settings.cheers_public_url}
        (var_dir / "dev-twins.env").write_text(
            "# Written by `make dev`: where it serves and the sandbox twins it runs. Delete to use .env alone.\n"
            + "".join(f"{k.upper()}={v}\n" for k, v in written.items())
        )
        chosen = settings.model_copy(update=overrides)
        if "cheers_telegram_api_url" not in explicit:
            # Exactly what `cheers telegram webhook set` does, through the Bot API: the twin delivers people's
            # messages to this server's /telegram/webhook (it only stores the URL now; the server is listening by
            # the time anyone types) with the secret and the updates we handle, and shows the command menu.
            hook = f"{chosen.cheers_public_url.rstrip('/')}/telegram/webhook"
            try:
                async with open_bot(chosen) as bot:
                    await register_webhook(bot, hook, chosen.cheers_telegram_webhook_secret)
            except TelegramError as exc:  # e.g. a secret Telegram would refuse too: say so, run without the webhook
                said = exc.message if isinstance(exc, BadRequest) else None  # others may quote the URL (its token)
                log.warning("telegram_twin_webhook_refused", url=hook, reason=exc.__class__.__name__, error=said)
        yield chosen
