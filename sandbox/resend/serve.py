"""Serve the Resend twin in a process of its own: `python -m sandbox.resend.serve --port 8105`.

For trying e-mail by hand (the inbox is at the twin's `/`). `ResendTwinControl` drives it over HTTP as usual.
Stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from sandbox.persist import kept
from sandbox.resend.state import DEV_API_KEY
from sandbox.resend.twin import create_resend_twin


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.resend.serve", description="Serve the Resend twin.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", default=DEV_API_KEY, help="the API key the twin accepts")
    parser.add_argument("--state-file", type=Path, default=None, help="keep the twin's e-mails here between runs")
    args = parser.parse_args(argv)
    app, state = create_resend_twin(api_keys=(args.api_key,))
    served, _keeper = kept(app, args.state_file, twin="resend", dump=state.durable, restore=state.restore)
    uvicorn.run(served, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
