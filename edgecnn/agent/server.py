"""The agent server: receives a model and a timing protocol, runs the timing loop on this device, replies.

Each connection is served by its own thread (a host holds a baseline and an optimized model at once,
and an idle client must not lock others out), but requests that load or run a model take one lock:
two models timed at the same time would disturb each other's numbers. Each connection gets its own
temporary directory, removed when it closes. Every failure of one request (bad token,
oversized upload, malformed message, a model that does not load) is answered with a clear error and
the agent keeps serving. Only numpy and onnxruntime/openvino are needed: no torch import anywhere here.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgecnn import __version__
from edgecnn.artifact import Artifact
from edgecnn.errors import InvalidInputError, UserError
from edgecnn.profiling.environment import fingerprint
from edgecnn.profiling.memory import track_peak_rss
from edgecnn.profiling.timing import TimingProtocol, measure
from edgecnn.runtime import BACKENDS, SessionOptions
from edgecnn.runtime import protocol as P

log = logging.getLogger("edgecnn.agent")

_FORMATS = {".onnx": "onnx", ".xml": "openvino"}


class Agent:
    def __init__(
        self,
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        max_upload_bytes: int = P.DEFAULT_MAX_UPLOAD_BYTES,
        idle_timeout: float = 300.0,
    ) -> None:
        if not token:
            raise InvalidInputError("the agent needs a shared token (--token or EDGECNN_AGENT_TOKEN)")
        if max_upload_bytes < 1:
            raise InvalidInputError("the upload limit must be at least one byte")
        self.token = token
        self.max_upload_bytes = max_upload_bytes
        # base64 grows data by 4/3; leave room for the JSON around it
        self.max_message_bytes = max_upload_bytes * 4 // 3 + (1 << 20)
        self.idle_timeout = idle_timeout
        self.busy = threading.Lock()  # one model loads or runs at a time
        try:
            self._server = socket.create_server((host, port))
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.getsockname()[:2]
        return host, port

    def serve_forever(self, *, on_ready: Callable[[str, int], None] | None = None) -> None:
        if on_ready:
            on_ready(*self.address)
        try:
            while True:
                conn, peer = self._server.accept()
                threading.Thread(target=self._handle, args=(conn, f"{peer[0]}:{peer[1]}"), daemon=True).start()
        finally:
            self._server.close()

    def _handle(self, conn: socket.socket, peer: str) -> None:
        with conn:
            _Connection(self, conn, peer).serve()

    def close(self) -> None:
        self._server.close()


class _Connection:
    def __init__(self, agent: Agent, conn: socket.socket, peer: str) -> None:
        self.agent, self.conn, self.peer = agent, conn, peer
        self.authenticated = False
        self.sessions: dict[str, Any] = {}
        self.workdir: Path | None = None

    def serve(self) -> None:
        log.info("connection from %s", self.peer)
        self.conn.settimeout(self.agent.idle_timeout)
        try:
            while self._one():
                pass
        except P.ConnectionClosed:
            log.info("%s disconnected", self.peer)
        except TimeoutError:
            log.warning("%s idle for %.0f s; closing the connection", self.peer, self.agent.idle_timeout)
        except OSError as exc:
            log.warning("connection to %s lost: %s", self.peer, exc)
        finally:
            self.sessions.clear()
            if self.workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def _reply(self, message: dict[str, Any]) -> None:
        P.send_message(self.conn, message)

    def _one(self) -> bool:
        """Handle one request; False ends the connection."""
        try:
            msg = P.recv_message(self.conn, max_bytes=self.agent.max_message_bytes)
        except P.MessageTooLarge as exc:
            # the unread body is still in the stream: answer, then drop this connection (not the agent)
            self._reply(
                P.error_reply(
                    "too_large", f"{exc}; the agent accepts uploads up to {self.agent.max_upload_bytes} bytes"
                )
            )
            return False
        except P.ProtocolError as exc:
            self._reply(P.error_reply("malformed", str(exc)))
            return True
        kind = msg.get("type")
        if kind == "hello":
            if not hmac.compare_digest(str(msg.get("token", "")).encode(), self.agent.token.encode()):
                log.warning("%s sent a wrong token", self.peer)
                self._reply(P.error_reply("auth", "wrong token: the agent refused the connection"))
                return False
            self.authenticated = True
            self._reply({"ok": True, **self._hello()})
            return True
        if not self.authenticated:
            self._reply(P.error_reply("auth", "send 'hello' with the shared token first"))
            return False
        if kind == "bye":
            self._reply({"ok": True})
            return False
        handler = {"load": self._load, "run": self._run, "profile": self._profile}.get(kind or "")
        if handler is None:
            self._reply(
                P.error_reply("malformed", f"unknown request type {kind!r} (expected hello, load, run, profile, bye)")
            )
            return True
        try:
            with self.agent.busy:
                reply = {"ok": True, **handler(msg)}
        except P.ProtocolError as exc:
            reply = P.error_reply("malformed", str(exc))
        except UserError as exc:
            reply = P.error_reply("user", str(exc))
        except Exception as exc:  # a failing model must not take the agent down
            log.exception("request %s failed", kind)
            reply = P.error_reply("internal", f"{type(exc).__name__}: {str(exc)[:500]}")
        self._reply(reply)
        return True

    def _hello(self) -> dict[str, Any]:

        return {
            "agent": f"edgecnn {__version__}",
            "protocol": P.PROTOCOL_VERSION,
            "fingerprint": fingerprint(),
            "limits": {
                "max_upload_bytes": self.agent.max_upload_bytes,
                "max_message_bytes": self.agent.max_message_bytes,
            },
            "backends": BACKENDS.names(),
        }

    def _load(self, msg: dict[str, Any]) -> dict[str, Any]:

        files = msg.get("files")
        if not isinstance(files, list) or not files:
            raise P.ProtocolError("malformed load request: 'files' must be a non-empty list")
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="edgecnn-agent-"))
        model_dir = Path(tempfile.mkdtemp(dir=self.workdir))
        total = 0
        paths = []
        for f in files:
            name = Path(str(f.get("name", ""))).name
            if not name or name.startswith("."):
                raise P.ProtocolError(f"malformed load request: bad file name {f.get('name')!r}")
            data = _b64(f.get("data"))
            total += len(data)
            if total > self.agent.max_upload_bytes:
                raise InvalidInputError(
                    f"upload of {total} bytes exceeds the agent's limit of {self.agent.max_upload_bytes} bytes"
                )
            if f.get("sha256") and hashlib.sha256(data).hexdigest() != f["sha256"]:
                raise InvalidInputError(f"{name}: checksum mismatch, the upload was corrupted")
            (model_dir / name).write_bytes(data)
            paths.append(model_dir / name)
        main = paths[0]
        fmt = _FORMATS.get(main.suffix.lower())
        if fmt is None:
            raise InvalidInputError(f"the agent runs .onnx or OpenVINO .xml models, not {main.name}")
        backend = str(msg.get("backend") or "onnxruntime")
        impl = BACKENDS.get(backend)()
        options = SessionOptions(
            threads=msg.get("threads"), precision=msg.get("precision"), extra=dict(msg.get("options") or {})
        )
        with track_peak_rss() as memory:
            session = impl.load(
                Artifact(path=main, format=fmt, precision=msg.get("artifact_precision") or "fp32"), options
            )
        model_id = uuid.uuid4().hex[:12]
        self.sessions[model_id] = session
        log.info("loaded %s (%d bytes) on %s as %s", main.name, total, backend, model_id)
        return {
            "model_id": model_id,
            "inputs": list(session.input_names),
            "outputs": list(session.output_names),
            "input_shapes": getattr(session, "input_shapes", None),
            "describe": session.describe(),
            "memory": {**memory, "file_bytes": total},
        }

    def _session(self, msg: dict[str, Any]) -> Any:
        session = self.sessions.get(str(msg.get("model_id")))
        if session is None:
            raise InvalidInputError(
                f"unknown model_id {msg.get('model_id')!r}: load the model on this connection first"
            )
        return session

    def _run(self, msg: dict[str, Any]) -> dict[str, Any]:
        session = self._session(msg)
        outputs = session.run(P.decode_arrays(msg.get("inputs")))
        return {"outputs": P.encode_arrays(list(outputs))}

    def _profile(self, msg: dict[str, Any]) -> dict[str, Any]:

        session = self._session(msg)
        inputs = P.decode_arrays(msg.get("inputs"))
        protocol = TimingProtocol.from_dict(dict(msg.get("protocol") or {}))
        outputs = session.run(inputs)
        stats = measure(session, inputs, protocol)
        threads = getattr(getattr(session, "options", None), "threads", None)
        return {
            "stats": stats.to_dict(include_times=True),
            "outputs": P.encode_arrays(list(outputs)),
            "fingerprint": fingerprint(threads=threads),
            "pid": os.getpid(),
        }


def _b64(data: Any) -> bytes:
    import base64
    import binascii

    if not isinstance(data, str):
        raise P.ProtocolError("malformed load request: file data must be a base64 string")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise P.ProtocolError(f"malformed load request: file data is not base64 ({exc})") from None


def serve(
    *,
    token: str,
    host: str = "127.0.0.1",
    port: int = 0,
    max_upload_bytes: int = P.DEFAULT_MAX_UPLOAD_BYTES,
    idle_timeout: float = 300.0,
    on_ready: Callable[[str, int], None] | None = None,
) -> None:
    """Run the agent until interrupted. Binds to loopback unless `host` says otherwise."""
    agent = Agent(token=token, host=host, port=port, max_upload_bytes=max_upload_bytes, idle_timeout=idle_timeout)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "the agent listens on %s: anyone who can reach this port and knows the token can run models here", host
        )
    agent.serve_forever(on_ready=on_ready)
