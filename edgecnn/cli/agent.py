"""`edgecnn agent serve`: the device agent (numpy + onnxruntime/openvino only; never imports torch)."""

from __future__ import annotations

from typing import Annotated

import typer

from edgecnn.agent.__main__ import announce
from edgecnn.agent.server import serve as run_agent
from edgecnn.cli.options import Token


def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; loopback unless you open it on purpose.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port, printed on the first line).")] = 8765,
    token: Token = None,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", help="Largest model upload accepted, in MiB.")
    ] = 128.0,
    idle_timeout: Annotated[
        float, typer.Option("--idle-timeout", help="Seconds before an idle connection is closed.")
    ] = 300.0,
) -> None:
    """Serve profiling requests: receive a model and a timing protocol, time it here, send the numbers back."""

    try:
        run_agent(
            token=token or "",
            host=host,
            port=port,
            max_upload_bytes=int(max_upload_mb * 2**20),
            idle_timeout=idle_timeout,
            on_ready=announce,
        )
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
