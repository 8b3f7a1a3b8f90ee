"""`python -m edgecnn.agent serve ...`: the agent with nothing but numpy + onnxruntime installed.

Same options as `edgecnn agent serve`, without needing typer/rich on the device.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from edgecnn.agent.server import serve
from edgecnn.errors import EdgeCNNError


def announce(host: str, port: int) -> None:
    """The first stdout line, parsed by launchers (tests, scripts) that asked for port 0."""
    print(f"edgecnn agent listening on tcp://{host}:{port}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgecnn.agent", description="edgecnn device agent")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve profiling requests from a host")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    s.add_argument("--port", type=int, default=8765, help="TCP port (0: any free port)")
    s.add_argument(
        "--token", default=os.environ.get("EDGECNN_AGENT_TOKEN"), help="shared token (or EDGECNN_AGENT_TOKEN)"
    )
    s.add_argument("--max-upload-mb", type=float, default=128.0, help="largest model upload accepted")
    s.add_argument("--idle-timeout", type=float, default=300.0, help="seconds before an idle connection is closed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)

    try:
        serve(
            token=args.token or "",
            host=args.host,
            port=args.port,
            max_upload_bytes=int(args.max_upload_mb * 2**20),
            idle_timeout=args.idle_timeout,
            on_ready=announce,
        )
    except EdgeCNNError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
