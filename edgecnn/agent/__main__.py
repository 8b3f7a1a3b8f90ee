"""`python -m edgecnn.agent serve ...`: the agent with nothing but numpy + onnxruntime installed.

Same options as `edgecnn agent serve`, without needing typer/rich on the device.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from edgecnn.agent.server import DEFAULT_HELLO_TIMEOUT_S, DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_CONNECTIONS, serve
from edgecnn.errors import EdgeCNNError
from edgecnn.runtime import protocol as P


def announce(url: str) -> None:
    """The first stdout line (ends with tcp:// or tls://HOST:PORT), parsed by launchers that asked for port 0."""
    print(f"edgecnn agent listening on {url}", flush=True)


def mib(value: float) -> int:
    """MiB from the command line as bytes; nan and infinities become 0, which the agent's checks refuse."""
    return int(value * 2**20) if value == value and abs(value) != float("inf") else 0


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
    s.add_argument(
        "--max-message-mb", type=float, default=P.DEFAULT_MAX_MESSAGE_BYTES / 2**20, help="largest JSON message"
    )
    s.add_argument(
        "--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT_S, help="seconds before an idle connection is closed"
    )
    s.add_argument("--hello-timeout", type=float, default=DEFAULT_HELLO_TIMEOUT_S, help="seconds to authenticate")
    s.add_argument(
        "--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS, help="connections served at once (more: busy)"
    )
    s.add_argument("--tls-cert", default=None, help="PEM certificate: serve TLS (with --tls-key)")
    s.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)

    try:
        serve(
            token=args.token or "",
            host=args.host,
            port=args.port,
            max_upload_bytes=mib(args.max_upload_mb),
            max_message_bytes=mib(args.max_message_mb),
            idle_timeout=args.idle_timeout,
            hello_timeout=args.hello_timeout,
            max_connections=args.max_connections,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            on_ready=announce,
        )
    except EdgeCNNError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # SIGTERM, after the agent removed its temp files
        return exc.code if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
