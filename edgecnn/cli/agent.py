"""`edgecnn agent serve`: the device agent (numpy + onnxruntime/openvino only; never imports torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgecnn.agent.__main__ import announce, mib
from edgecnn.agent.server import DEFAULT_HELLO_TIMEOUT_S, DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_CONNECTIONS
from edgecnn.agent.server import serve as run_agent
from edgecnn.cli.options import Token
from edgecnn.runtime import protocol as P


def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; loopback unless you open it on purpose.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port, printed on the first line).")] = 8765,
    token: Token = None,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", help="Largest model upload accepted, in MiB.")
    ] = 128.0,
    max_message_mb: Annotated[
        float, typer.Option("--max-message-mb", help="Largest JSON message (input/output arrays), in MiB.")
    ] = P.DEFAULT_MAX_MESSAGE_BYTES / 2**20,
    idle_timeout: Annotated[
        float, typer.Option("--idle-timeout", help="Seconds before an idle connection is closed.")
    ] = DEFAULT_IDLE_TIMEOUT_S,
    hello_timeout: Annotated[
        float, typer.Option("--hello-timeout", help="Seconds a new connection has to authenticate.")
    ] = DEFAULT_HELLO_TIMEOUT_S,
    max_connections: Annotated[
        int, typer.Option("--max-connections", help="Connections served at once; the next ones are told 'busy'.")
    ] = DEFAULT_MAX_CONNECTIONS,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate: serve TLS (hosts connect to tls://HOST:PORT).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")] = None,
) -> None:
    """Serve profiling requests: receive a model and a timing protocol, time it here, send the numbers back."""

    try:
        run_agent(
            token=token or "",
            host=host,
            port=port,
            max_upload_bytes=mib(max_upload_mb),
            max_message_bytes=mib(max_message_mb),
            idle_timeout=idle_timeout,
            hello_timeout=hello_timeout,
            max_connections=max_connections,
            tls_cert=tls_cert,
            tls_key=tls_key,
            on_ready=announce,
        )
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except SystemExit as exc:  # SIGTERM, after the agent removed its temp files
        raise typer.Exit(exc.code if isinstance(exc.code, int) else 1) from None
