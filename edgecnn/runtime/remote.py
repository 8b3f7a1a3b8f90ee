"""The "remote" backend: a Session whose model runs on a device through the edgecnn agent.

    load_session("model.onnx", backend="remote", device="tcp://pi.local:8765", token="...")

`run` sends inputs and returns the device's outputs; `profile` runs the timing protocol on the device
and returns its per-iteration times, outputs and fingerprint. A lost connection or a timeout raises
DeviceUnavailableError naming the agent; the agent itself keeps serving.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from edgecnn.errors import DeviceUnavailableError, InvalidInputError, UserError
from edgecnn.runtime import protocol as P
from edgecnn.runtime.base import SessionBase, SessionOptions, feed

DEFAULT_TIMEOUT_S = 300.0


class AgentError(UserError):
    """The agent refused a request (wrong token, too large, malformed, model failed); `kind` says which."""

    def __init__(self, kind: str, message: str, url: str) -> None:
        super().__init__(f"agent at {url} refused the request ({kind}): {message}")
        self.kind = kind


def parse_url(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    if parsed.scheme != "tcp" or not parsed.hostname or not parsed.port:
        raise InvalidInputError(f"device address {url!r} is not of the form tcp://host:port")
    return parsed.hostname, parsed.port


class AgentClient:
    """One authenticated connection to an agent."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url
        self.timeout = timeout
        host, port = parse_url(url)
        token = token or os.environ.get("EDGECNN_AGENT_TOKEN")
        if not token:
            raise InvalidInputError("a remote device needs the agent's token (--token or EDGECNN_AGENT_TOKEN)")
        self._sock: socket.socket | None = None
        try:
            self._sock = socket.create_connection((host, port), timeout=min(timeout, 30.0))
        except OSError as exc:
            raise DeviceUnavailableError(
                f"cannot reach the edgecnn agent at {url}: {exc.strerror or exc}; "
                "is `edgecnn agent serve` running there?"
            ) from None
        self._sock.settimeout(timeout)
        self.info = self.request({"type": "hello", "token": token})

    def request(self, message: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """Send one request and return the reply; errors become AgentError / DeviceUnavailableError."""
        if self._sock is None:
            raise DeviceUnavailableError(f"the connection to the agent at {self.url} is closed")
        try:
            self._sock.settimeout(timeout or self.timeout)
            P.send_message(self._sock, message)
            reply = P.recv_message(self._sock)
        except TimeoutError:
            self.close()
            raise DeviceUnavailableError(
                f"the agent at {self.url} did not answer within {timeout or self.timeout:.0f} s "
                f"({message.get('type')} request); the connection was closed"
            ) from None
        except P.ConnectionClosed:
            self.close()
            raise DeviceUnavailableError(
                f"the connection to the agent at {self.url} was lost during the {message.get('type')} request"
            ) from None
        except OSError as exc:
            self.close()
            raise DeviceUnavailableError(
                f"the connection to the agent at {self.url} was lost: {exc.strerror or exc}"
            ) from None
        if not reply.get("ok"):
            err = reply.get("error") or {}
            raise AgentError(str(err.get("kind", "unknown")), str(err.get("message", "no message")), self.url)
        return reply

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def _artifact_files(artifact: Any) -> list[Path]:
    files = getattr(artifact, "files", None)
    if files:
        return list(files)
    path = Path(getattr(artifact, "path", artifact))
    if not path.exists():
        raise InvalidInputError(f"artifact not found: {path}")
    extra = [path.with_suffix(".bin")] if path.suffix == ".xml" else [path.with_name(path.name + ".data")]
    return [path] + [p for p in extra if p.exists()]


class RemoteSession(SessionBase):
    backend = "remote"

    def __init__(self, artifact: Any, options: SessionOptions) -> None:
        extra = dict(options.extra)
        url = options.device if options.device.startswith("tcp://") else extra.pop("url", None)
        if not url:
            raise InvalidInputError("the remote backend needs device='tcp://host:port'")
        self.options = options
        self.remote_backend = str(extra.pop("remote_backend", "onnxruntime"))
        self.client = AgentClient(
            url, token=extra.pop("token", None), timeout=float(extra.pop("timeout", DEFAULT_TIMEOUT_S))
        )
        self.fingerprint: dict[str, Any] = self.client.info.get("fingerprint", {})
        files = _artifact_files(artifact)
        limit = int(self.client.info.get("limits", {}).get("max_upload_bytes", 0))
        total = sum(p.stat().st_size for p in files)
        if limit and total > limit:
            self.client.close()
            raise InvalidInputError(
                f"{files[0].name} is {total} bytes; the agent at {url} accepts uploads up to {limit} bytes "
                "(start it with a larger --max-upload-mb)"
            )
        payload = []
        for p in files:
            data = p.read_bytes()
            payload.append(
                {
                    "name": p.name,
                    "data": base64.b64encode(data).decode("ascii"),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
        reply = self.client.request(
            {
                "type": "load",
                "files": payload,
                "backend": self.remote_backend,
                "threads": options.threads,
                "precision": options.precision,
                "options": extra,
                "artifact_precision": getattr(artifact, "precision", None),
            }
        )
        self.model_id = reply["model_id"]
        self.input_names: list[str] = reply["inputs"]
        self.output_names: list[str] = reply["outputs"]
        self.input_shapes = reply.get("input_shapes")
        self.remote_describe: dict[str, Any] = reply.get("describe", {})
        self.memory: dict[str, Any] = reply.get("memory", {})

    def run(self, inputs: np.ndarray | dict[str, np.ndarray]) -> list[np.ndarray]:
        reply = self.client.request(
            {"type": "run", "model_id": self.model_id, "inputs": P.encode_arrays(feed(self.input_names, inputs))}
        )
        return P.decode_arrays(reply["outputs"])

    def profile(
        self, inputs: np.ndarray | dict[str, np.ndarray], protocol: Any
    ) -> tuple[Any, list[np.ndarray], dict[str, Any]]:
        """Run the timing protocol on the device: (its stats as a dict, outputs, device fingerprint)."""
        reply = self.client.request(
            {
                "type": "profile",
                "model_id": self.model_id,
                "protocol": protocol.to_dict(),
                "inputs": P.encode_arrays(feed(self.input_names, inputs)),
            }
        )
        return reply["stats"], P.decode_arrays(reply["outputs"]), reply.get("fingerprint", {})

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "url": self.client.url,
            "agent": self.client.info.get("agent"),
            "device": self.remote_describe,
            "arch": self.fingerprint.get("arch"),
            "emulated": self.fingerprint.get("emulated"),
            "threads": self.options.threads,
        }

    def close(self) -> None:
        if self.client._sock is not None:
            try:
                self.client.request({"type": "bye"}, timeout=5.0)
            except UserError:
                pass
        self.client.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        client = getattr(self, "client", None)
        if client is not None:
            client.close()


class RemoteBackend:
    name = "remote"

    def load(self, artifact: Any, options: SessionOptions) -> RemoteSession:
        return RemoteSession(artifact, options)
