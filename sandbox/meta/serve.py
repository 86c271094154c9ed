"""Serve the Meta twin in a process of its own: `python -m sandbox.meta.serve --port 8101 --latency-ms 50`.

For benchmarks and chaos runs that must not share a CPU or an event loop with the code under test. The
control interface (`MetaTwinControl`) drives it over HTTP as usual; `--latency-ms` is the starting value
of `PublishSettings.latency_ms` (changeable later through POST /_twin/publishing; reset() clears it).
Stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse

import uvicorn

from sandbox.meta.twin import DEFAULT_APP_ID, DEFAULT_APP_SECRET, create_meta_twin


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.meta.serve", description="Serve the Meta twin in its own process."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added before every Graph answer")
    parser.add_argument("--app-id", default=DEFAULT_APP_ID)
    parser.add_argument("--app-secret", default=DEFAULT_APP_SECRET)
    parser.add_argument("--path-prefix", default="")
    args = parser.parse_args(argv)
    app, state = create_meta_twin(app_id=args.app_id, app_secret=args.app_secret, path_prefix=args.path_prefix)
    state.content.settings.latency_ms = args.latency_ms
    # No access log and uvicorn's plain logging: the twin must not spend its CPU on log lines.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
