"""Serve the Telegram twin in a process of its own: `python -m sandbox.telegram.serve --port 8104`.

For benchmarks and trying a bot by hand. `TelegramTwinControl` drives it over HTTP as usual. Stops on SIGINT or
SIGTERM.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from sandbox.persist import kept
from sandbox.telegram.state import DEV_BOT_TOKEN, DEV_BOT_USERNAME
from sandbox.telegram.twin import create_telegram_twin


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.telegram.serve", description="Serve the Telegram twin.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default=DEV_BOT_TOKEN, help="the bot token the twin answers to")
    parser.add_argument("--username", default=DEV_BOT_USERNAME)
    parser.add_argument("--resend-attempts", type=int, default=3, help="webhook POSTs per update, in all")
    parser.add_argument("--resend-interval", type=float, default=0.05, help="seconds between webhook resends")
    parser.add_argument("--state-file", type=Path, default=None, help="keep the twin's state here between runs")
    args = parser.parse_args(argv)
    app, state = create_telegram_twin(token=args.token, username=args.username)
    state.policy.resend_attempts, state.policy.resend_interval = args.resend_attempts, args.resend_interval
    served, _keeper = kept(app, args.state_file, twin="telegram", dump=state.durable, restore=state.restore)
    # No access log and uvicorn's plain logging: the twin must not spend its CPU on log lines.
    uvicorn.run(served, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
