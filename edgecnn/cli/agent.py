"""`edgecnn agent serve`: the device agent (numpy + onnxruntime/openvino only; never imports torch)."""

from __future__ import annotations

import os

import typer


def register(app: typer.Typer) -> None:
    agent_app = typer.Typer(
        help="Run the device agent that profiles models for a host (`edgecnn profile --device`).", no_args_is_help=True
    )

    @agent_app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to bind; loopback unless you open it on purpose."),
        port: int = typer.Option(8765, help="TCP port (0: any free port, printed on the first line)."),
        token: str = typer.Option(None, help="Shared token the host must send (or EDGECNN_AGENT_TOKEN)."),
        max_upload_mb: float = typer.Option(128.0, help="Largest model upload accepted, in MiB."),
        idle_timeout: float = typer.Option(300.0, help="Seconds before an idle connection is closed."),
    ) -> None:
        """Serve profiling requests: receive a model and a timing protocol, time it here, send the numbers back."""
        from edgecnn.agent.__main__ import announce
        from edgecnn.agent.server import serve as run_agent

        try:
            run_agent(
                token=token or os.environ.get("EDGECNN_AGENT_TOKEN", ""),
                host=host,
                port=port,
                max_upload_bytes=int(max_upload_mb * 2**20),
                idle_timeout=idle_timeout,
                on_ready=announce,
            )
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    app.add_typer(agent_app, name="agent")
