"""Serve the Slack twin in a process of its own: `python -m sandbox.slack.serve --port 8103`.

For benchmarks that must not share a CPU or an event loop with the code under test (alert latency with
per-channel pacing). `SlackTwinControl` drives it over HTTP as usual. Stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from sandbox.persist import kept
from sandbox.slack.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_SIGNING_SECRET
from sandbox.slack.twin import create_slack_twin


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.slack.serve", description="Serve the Slack twin.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--signing-secret", default=DEFAULT_SIGNING_SECRET)
    parser.add_argument("--per-second", type=float, default=1.0, help="chat.postMessage pacing per channel")
    parser.add_argument("--burst", type=int, default=50, help="messages a channel takes at once before pacing")
    parser.add_argument("--state-file", type=Path, default=None, help="keep the twin's state here between runs")
    args = parser.parse_args(argv)
    app, state = create_slack_twin(
        client_id=args.client_id, client_secret=args.client_secret, signing_secret=args.signing_secret
    )
    state.pacing.per_second, state.pacing.burst = args.per_second, args.burst
    served, _keeper = kept(app, args.state_file, twin="slack", dump=state.durable, restore=state.restore)
    # No access log and uvicorn's plain logging: the twin must not spend its CPU on log lines.
    uvicorn.run(served, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
