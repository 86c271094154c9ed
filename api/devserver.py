"""`cheers dev`: one process with web, worker and scheduler on embedded defaults."""

from __future__ import annotations

import asyncio
import contextlib
import os

import uvicorn

from api.app import create_app
from api.devtwins import sandbox_twins, twins_dir
from core.logging import configure_logging
from core.ops.devsetup import demo_login_link, demo_week_line, ensure_demo, ensure_demo_plan, ensure_dev_secrets
from core.runtime import build_runtime
from core.settings import DEFAULT_VAR_DIR, Env, Settings
from core.weekly.materialise import materialise
from storage import migrate
from storage.uow import transaction


def run_dev(host: str = "127.0.0.1", port: int = 8000) -> None:
    ensure_dev_secrets(DEFAULT_VAR_DIR)
    # Last run's twin URLs must not count as settings given explicitly.
    (DEFAULT_VAR_DIR / "dev-twins.env").unlink(missing_ok=True)
    overrides: dict[str, object] = {}
    if "CHEERS_PUBLIC_URL" not in os.environ:
        overrides["cheers_public_url"] = f"http://{host}:{port}"
    if "CHEERS_LOG_FORMAT" not in os.environ:
        overrides["cheers_log_format"] = "console"
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if settings.cheers_env is Env.dev:
        # `echo 'job_run@housekeeping=raise' > var/dev-faults` makes that job fail, to see an incident (core.faults).
        os.environ.setdefault("CHEERS_ENV", Env.dev.value)
        os.environ.setdefault("CHEERS_FAULTS_FILE", str((settings.cheers_var_dir / "dev-faults").resolve()))
    configure_logging(settings.cheers_log_level, settings.cheers_log_format)
    migrate.upgrade(settings.database)
    # uvicorn shuts down cleanly on Ctrl-C, then re-raises the interrupt it caught.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings, host, port))
    print("CheersAI stopped; your data is kept in var/ for the next `make dev`.", flush=True)


def email_line(settings: Settings) -> str:
    """Where e-mail goes in `make dev`: the Resend twin's inbox page, or the Resend the settings name."""
    ops = ", ".join(settings.ops_emails) or "nobody (CHEERS_OPS_EMAILS)"
    if not settings.cheers_resend_api_key:
        return f"not sent (no CHEERS_RESEND_API_KEY); ops e-mails to {ops} wait in the outbox"
    url = settings.cheers_resend_api_url.rstrip("/")
    where = f"sandbox inbox at {url}/" if url.startswith(("http://127.0.0.1", "http://localhost")) else f"Resend {url}"
    return f"{where} (ops incidents to {ops})"


async def _serve(settings: Settings, host: str, port: int) -> None:
    async with sandbox_twins(settings, DEFAULT_VAR_DIR, port) as settings:
        runtime = build_runtime(settings)
        async with transaction(runtime.db) as uow:
            demo = await ensure_demo(uow.session, runtime.clock)
            link = await demo_login_link(uow.session, runtime.clock, settings, demo.owner_user_id)
            await ensure_demo_plan(uow.session, runtime.clock, demo)
        # Next week's posts from the demo's weekly plan at once, not at the daily job's hour (a rerun makes nothing).
        week = await materialise(runtime, account_id=demo.account_id)
        app = create_app(runtime=runtime, inprocess_workers=True, configure_logs=False)
        config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
        server = uvicorn.Server(config)
        base = settings.cheers_public_url
        banner = [
            "",
            "CheersAI is running (web + worker + scheduler + sandbox providers in one process)",
            f"  database : {settings.database}",
            f"  broker   : {'redis ' + settings.redis_url if settings.redis_url else 'in-memory'}",
            f"  open     : {base}/",
            f"  planner  : {link} (signs you in as the demo owner and opens the week)",
            f"  API docs : {base}/schema",
            f"  status   : {base}/api/status",
            f"  demo     : venue {demo.account_id} ({'seeded now' if demo.created else 'kept from last run'}), "
            f"owner user {demo.owner_user_id}",
            f"  weekly   : {demo_week_line(week)}",
            f"  sandbox  : Facebook/Instagram {settings.cheers_graph_url}, Google {settings.cheers_gbp_info_url}"
            f" (their tokens and posts kept in {twins_dir(DEFAULT_VAR_DIR)}/)",
            f"  connect  : .venv/bin/cheers connections connect facebook --account {demo.account_id}",
            f"  slack    : sandbox workspace at {settings.cheers_slack_oauth_url}; type as a person there:"
            ' .venv/bin/cheers chat slack "/cheers help"',
            f"  telegram : sandbox Telegram at {settings.cheers_telegram_api_url}"
            f"{' with @' + settings.cheers_telegram_bot_username if settings.cheers_telegram_bot_username else ''};"
            ' write to the bot as a person there: .venv/bin/cheers chat telegram "/help"',
            f"  e-mail   : {email_line(settings)}",
            "Ctrl-C stops everything; data stays in var/.",
            "",
        ]
        print("\n".join(banner), flush=True)
        try:
            await server.serve()
        finally:
            await runtime.close()
