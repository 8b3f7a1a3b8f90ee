"""The agent server: receives a model and a timing protocol, runs the timing loop on this device, replies.

Each connection is served by its own thread (a host holds a baseline and an optimized model at once,
and an idle client must not lock others out), but requests that load or run a model take one lock:
two models timed at the same time would disturb each other's numbers. Each connection gets its own
temporary directory, removed when it closes (and, for all of them, when the agent exits or gets SIGTERM/SIGINT).

A stranger gets little: at most `max_connections` connections live at once (the next ones are told "busy" and
closed), and before authentication the agent reads messages of at most 4 KiB and waits at most `hello_timeout`
seconds in all (an absolute deadline: trickling bytes does not extend it). Authentication is a challenge-response
(HMAC of a fresh nonce under the token), so the token never crosses the wire; with `tls_cert`/`tls_key` the whole
stream is TLS. Uploads arrive as raw bytes after the "load" message and go straight to disk in 1 MiB chunks,
their sha256 checked on arrival, so a connection's memory stays bounded by the JSON message cap.

Every failure of one request (bad token, oversized upload, malformed message, a model that does not load) is
answered with a clear error and the agent keeps serving. Only numpy and onnxruntime/openvino are needed: no torch
import anywhere here.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import logging
import math
import os
import shutil
import signal
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
AGENT_BACKENDS = ("onnxruntime", "openvino")  # the runtimes of _FORMATS; `hello` lists those installed here
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_HEX = frozenset("0123456789abcdef")
MAX_FILES = 16  # a model and its weights (.onnx + .data, .xml + .bin); more is not a model
MAX_PROFILE_ITERS = 1_000_000
MAX_PROFILE_SECONDS = 600.0
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_HELLO_TIMEOUT_S = 10.0
DEFAULT_IDLE_TIMEOUT_S = 300.0


class _Fatal(Exception):
    """A request after which the stream cannot be trusted (e.g. upload bytes of unknown length follow): reply, close."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_options(
    *,
    token: str,
    host: str,
    port: Any,
    max_upload_bytes: Any,
    max_message_bytes: Any,
    idle_timeout: Any,
    hello_timeout: Any,
    max_connections: Any,
    tls_cert: str | os.PathLike | None,
    tls_key: str | os.PathLike | None,
) -> None:
    """Every option checked before binding: one clear line naming the option (the CLIs exit 2 on it)."""

    def positive(value: Any, option: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise InvalidInputError(f"{option} must be a positive number, not {value!r}")

    if not token:
        raise InvalidInputError("the agent needs a shared token (--token or EDGECNN_AGENT_TOKEN)")
    if not host:
        raise InvalidInputError("--host must not be empty")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidInputError(f"--port must be between 0 and 65535 (0: any free port), not {port!r}")
    positive(idle_timeout, "--idle-timeout (seconds)")
    positive(hello_timeout, "--hello-timeout (seconds)")
    if isinstance(max_upload_bytes, bool) or not isinstance(max_upload_bytes, int) or max_upload_bytes < 1:
        raise InvalidInputError(f"--max-upload-mb must be positive (got {max_upload_bytes!r} bytes)")
    if isinstance(max_message_bytes, bool) or not isinstance(max_message_bytes, int) or max_message_bytes < 1024:
        raise InvalidInputError(f"--max-message-mb must be at least 1 KiB (got {max_message_bytes!r} bytes)")
    if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
        raise InvalidInputError(f"--max-connections must be a positive integer, not {max_connections!r}")
    if bool(tls_cert) != bool(tls_key):
        raise InvalidInputError("TLS needs both --tls-cert and --tls-key")
    for option, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path and not Path(path).is_file():
            raise InvalidInputError(f"{option}: no such file {str(path)!r}")


def _tls_context(cert: str | os.PathLike, key: str | os.PathLike) -> tuple[ssl.SSLContext, str]:
    """(server context, sha256 fingerprint of the certificate) — the fingerprint is what hosts pin."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
        der = ssl.PEM_cert_to_DER_cert(Path(cert).read_text())
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise InvalidInputError(f"cannot use the TLS certificate {str(cert)!r} with key {str(key)!r}: {exc}") from None
    return ctx, hashlib.sha256(der).hexdigest()


class Agent:
    def __init__(
        self,
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        max_upload_bytes: int = P.DEFAULT_MAX_UPLOAD_BYTES,
        max_message_bytes: int = P.DEFAULT_MAX_MESSAGE_BYTES,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S,
        hello_timeout: float = DEFAULT_HELLO_TIMEOUT_S,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        tls_cert: str | os.PathLike | None = None,
        tls_key: str | os.PathLike | None = None,
    ) -> None:
        check_options(
            token=token,
            host=host,
            port=port,
            max_upload_bytes=max_upload_bytes,
            max_message_bytes=max_message_bytes,
            idle_timeout=idle_timeout,
            hello_timeout=hello_timeout,
            max_connections=max_connections,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
        self.token = token
        self.max_upload_bytes = max_upload_bytes
        self.max_message_bytes = max_message_bytes
        self.idle_timeout = float(idle_timeout)
        self.hello_timeout = float(hello_timeout)
        self.max_connections = max_connections
        self.tls: ssl.SSLContext | None = None
        self.cert_fingerprint: str | None = None
        if tls_cert and tls_key:
            self.tls, self.cert_fingerprint = _tls_context(tls_cert, tls_key)
        self.busy = threading.Lock()  # one model loads or runs at a time
        self._lock = threading.Lock()  # guards the counters and the set of temp dirs below
        self._live = 0
        self._workdirs: set[Path] = set()
        self._closed = False
        try:
            self._server = socket.create_server((host, port), backlog=128)
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.getsockname()[:2]
        return host, port

    @property
    def url(self) -> str:
        host, port = self.address
        return f"{'tls' if self.tls else 'tcp'}://{host}:{port}"

    @property
    def live_connections(self) -> int:
        return self._live

    def serve_forever(self, *, on_ready: Callable[[str], None] | None = None) -> None:
        if self.cert_fingerprint:
            log.info("TLS certificate sha256 fingerprint (pin it on the host): %s", self.cert_fingerprint)
        if on_ready:
            on_ready(self.url)
        try:
            while True:
                try:
                    conn, peer = self._server.accept()
                except OSError as exc:  # e.g. out of file descriptors: wait, keep serving
                    if self._closed:
                        return
                    log.warning("cannot accept a connection: %s", exc)
                    time.sleep(0.1)
                    continue
                peer_s = f"{peer[0]}:{peer[1]}"
                with self._lock:
                    admitted = self._live < self.max_connections
                    if admitted:
                        self._live += 1
                if not admitted:
                    self._refuse_busy(conn, peer_s)
                    continue
                try:
                    threading.Thread(target=self._handle, args=(conn, peer_s), daemon=True).start()
                except RuntimeError:  # cannot start a thread: out of resources; refuse, keep serving
                    self._release()
                    conn.close()
        finally:
            self.close()

    def _refuse_busy(self, conn: socket.socket, peer: str) -> None:
        log.warning("%s refused: %d connections already open (--max-connections)", peer, self.max_connections)
        try:
            conn.settimeout(1.0)
            if self.tls is None:  # a TLS client would read this as a broken handshake: just close
                P.send_message(
                    conn,
                    P.error_reply(
                        "busy", f"the agent already serves {self.max_connections} connections; try again later"
                    ),
                )
        except OSError:
            pass
        finally:
            conn.close()

    def _release(self) -> None:
        with self._lock:
            self._live -= 1

    def _handle(self, conn: socket.socket, peer: str) -> None:
        deadline = time.monotonic() + self.hello_timeout
        try:
            if self.tls is not None:
                conn.settimeout(self.hello_timeout)
                # the hello deadline covers the handshake too, however slowly its bytes trickle in
                watchdog = threading.Timer(self.hello_timeout, _shutdown, args=(conn,))
                watchdog.start()
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError) as exc:
                    log.warning("TLS handshake with %s failed: %s", peer, exc)
                    conn.close()
                    return
                finally:
                    watchdog.cancel()
            with conn:
                _Connection(self, conn, peer, deadline).serve()
        except Exception:  # a bug in one connection must not take the agent down
            log.exception("connection from %s failed", peer)
        finally:
            self._release()

    def new_workdir(self) -> Path:
        with self._lock:
            if self._closed:
                raise InvalidInputError("the agent is shutting down")
            path = Path(tempfile.mkdtemp(prefix="edgecnn-agent-"))
            self._workdirs.add(path)
        return path

    def drop_workdir(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
        with self._lock:
            self._workdirs.discard(path)

    def close(self) -> None:
        """Stop listening and remove every connection's uploads."""
        with self._lock:
            self._closed = True
            dirs, self._workdirs = list(self._workdirs), set()
        self._server.close()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def _lingering_close(sock: socket.socket, *, limit: int = 4 << 20, seconds: float = 1.0) -> None:
    """Half-close after a refusal and read (a bounded amount of) what the peer is still sending, so the refusal
    reaches it instead of being lost to a reset caused by unread bytes."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(seconds)
        deadline, drained = time.monotonic() + seconds, 0
        while drained < limit and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Connection:
    def __init__(self, agent: Agent, conn: socket.socket, peer: str, hello_deadline: float) -> None:
        self.agent, self.conn, self.peer = agent, conn, peer
        self.hello_deadline = hello_deadline  # absolute: from the accept, TLS handshake included
        self.sessions: dict[str, Any] = {}
        self.workdir: Path | None = None

    def serve(self) -> None:
        log.info("connection from %s (%d open)", self.peer, self.agent.live_connections)
        try:
            if self._authenticate():
                self.conn.settimeout(self.agent.idle_timeout)
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
                self.agent.drop_workdir(self.workdir)

    def _reply(self, message: dict[str, Any]) -> None:
        P.send_message(self.conn, message)

    def _refuse(self, kind: str, message: str) -> bool:
        """Answer a stranger's bad message and end the connection (best effort: it may already be gone)."""
        try:
            self.conn.settimeout(1.0)
            self._reply(P.error_reply(kind, message))
        except OSError:
            pass
        return False

    def _authenticate(self) -> bool:
        """hello -> challenge, auth -> HMAC checked; True once authenticated. Strangers get one strike."""
        deadline = self.hello_deadline
        challenge: str | None = None
        while True:
            try:
                msg = P.recv_message(self.conn, max_bytes=P.PRE_AUTH_MAX_MESSAGE_BYTES, deadline=deadline)
            except P.MessageTooLarge as exc:
                log.warning("%s sent an oversized message before authenticating", self.peer)
                return self._refuse("too_large", f"{exc}: before authentication the agent reads only small messages")
            except P.ProtocolError as exc:
                return self._refuse("malformed", f"bad request: {exc}")
            except TimeoutError:
                log.warning("%s did not authenticate within %.0f s", self.peer, self.agent.hello_timeout)
                return self._refuse("auth", f"no authentication within {self.agent.hello_timeout:g} s")
            kind = msg.get("type")
            if kind == "hello" and challenge is None:
                challenge = P.new_challenge()
                self._reply({"ok": True, "challenge": challenge, "protocol": P.PROTOCOL_VERSION})
                continue
            if kind == "auth" and challenge is not None:
                answer = msg.get("hmac")
                expected = P.auth_digest(self.agent.token, challenge)
                if not isinstance(answer, str) or not hmac.compare_digest(answer.encode(), expected.encode()):
                    log.warning("%s sent a wrong token", self.peer)
                    return self._refuse("auth", "wrong token: the agent refused the connection")
                self._reply({"ok": True, **self._hello()})
                return True
            return self._refuse(
                "auth", "authenticate first: send 'hello', then 'auth' with the HMAC of the challenge under the token"
            )

    def _one(self) -> bool:
        """Handle one request; False ends the connection."""
        try:
            msg = P.recv_message(self.conn, max_bytes=self.agent.max_message_bytes)
        except P.MessageTooLarge as exc:
            # the unread body is still in the stream: answer, then drop this connection (not the agent)
            self._reply(
                P.error_reply("too_large", f"{exc}; uploads travel as raw bytes after 'load', not inside a message")
            )
            return False
        except P.ProtocolError as exc:
            self._reply(P.error_reply("malformed", f"bad request: {exc}"))
            return True
        kind = msg.get("type")
        if kind == "bye":
            self._reply({"ok": True})
            return False
        handler = {"load": self._load, "run": self._run, "profile": self._profile}.get(kind or "")
        if handler is None:
            self._reply(
                P.error_reply(
                    "malformed", f"bad request: unknown request type {kind!r} (expected load, run, profile, bye)"
                )
            )
            return True
        try:
            reply = {"ok": True, **handler(msg)}
        except _Fatal as exc:
            self._reply(P.error_reply(exc.kind, str(exc)))
            _lingering_close(self.conn)
            return False
        except P.ConnectionClosed:
            raise
        except P.ProtocolError as exc:
            reply = P.error_reply("malformed", f"bad request: {exc}")
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
                "max_files": MAX_FILES,
            },
            "backends": [b for b in AGENT_BACKENDS if importlib.util.find_spec(b) is not None],
        }

    def _check_files(self, files: list[Any]) -> list[tuple[str, int, str]]:
        """(name, size, sha256) of each announced file; any fault is fatal, since raw bytes may follow."""
        if len(files) > MAX_FILES:
            raise _Fatal("malformed", f"bad request: {len(files)} files in one load (at most {MAX_FILES})")
        out: list[tuple[str, int, str]] = []
        for f in files:
            if not isinstance(f, dict):
                raise _Fatal("malformed", f"bad request: each file must be an object {{name, size, sha256}}, not {f!r}")
            name, size, digest = f.get("name"), f.get("size"), f.get("sha256")
            if (
                not isinstance(name, str)
                or not name
                or len(name) > 255
                or not name.isprintable()  # NUL, control characters, lone surrogates
                or "/" in name
                or "\\" in name
                or name.startswith(".")
            ):
                raise _Fatal("malformed", f"bad request: bad file name {name!r} (a plain printable file name)")
            if any(name == seen for seen, _, _ in out):
                raise _Fatal("malformed", f"bad request: file {name!r} listed twice")
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise _Fatal("malformed", f"bad request: {name}: 'size' must be a byte count, not {size!r}")
            if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX:
                raise _Fatal("malformed", f"bad request: {name}: 'sha256' must be 64 lowercase hex digits")
            out.append((name, size, digest))
        total = sum(size for _, size, _ in out)
        if total > self.agent.max_upload_bytes:
            raise _Fatal(
                "too_large",
                f"upload of {total} bytes exceeds the agent's limit of {self.agent.max_upload_bytes} bytes "
                "(--max-upload-mb on the agent)",
            )
        return out

    def _receive(self, model_dir: Path, files: list[tuple[str, int, str]]) -> list[Path]:
        """Stream each file to disk, hashing as it arrives; a mismatch is reported after all bytes are read."""
        paths, bad = [], []
        for name, size, digest in files:
            path = model_dir / name
            h = hashlib.sha256()
            with open(path, "wb") as out:
                left = size
                while left:
                    try:
                        chunk = self.conn.recv(min(left, P.CHUNK))
                    except TimeoutError:
                        raise _Fatal(
                            "malformed", f"bad request: the upload stalled for {self.agent.idle_timeout:g} s"
                        ) from None
                    except OSError as exc:
                        raise P.ConnectionClosed(f"the connection broke in the middle of an upload: {exc}") from None
                    if not chunk:
                        raise P.ConnectionClosed("the connection closed in the middle of an upload")
                    h.update(chunk)
                    try:
                        out.write(chunk)
                    except OSError as exc:  # disk full: the rest of the upload is still in the stream
                        raise _Fatal("user", f"the agent cannot store the upload: {exc.strerror or exc}") from None
                    left -= len(chunk)
            if not hmac.compare_digest(h.hexdigest(), digest):
                bad.append(name)
            paths.append(path)
        if bad:
            raise InvalidInputError(f"{', '.join(bad)}: checksum mismatch, the upload was corrupted")
        return paths

    def _load(self, msg: dict[str, Any]) -> dict[str, Any]:
        files = msg.get("files")
        if not isinstance(files, list) or not files:
            raise P.ProtocolError("malformed load request: 'files' must be a non-empty list of {name, size, sha256}")
        announced = self._check_files(files)
        backend, threads = msg.get("backend") or "onnxruntime", msg.get("threads")
        precision, artifact_precision = msg.get("precision"), msg.get("artifact_precision") or "fp32"
        options = msg.get("options") or {}
        # the announced bytes follow whatever is wrong with the rest: read them first, then refuse
        problem = None
        if not isinstance(backend, str) or backend == "remote":
            problem = f"'backend' must be the name of a backend on the agent, not {backend!r}"
        elif threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            problem = f"'threads' must be a positive integer or null, not {threads!r}"
        elif not (precision is None or isinstance(precision, str)) or not isinstance(artifact_precision, str):
            problem = "'precision' and 'artifact_precision' must be strings or null"
        elif not isinstance(options, dict):
            problem = f"'options' must be an object, not {type(options).__name__}"
        if self.workdir is None:
            self.workdir = self.agent.new_workdir()
        model_dir = Path(tempfile.mkdtemp(dir=self.workdir))
        try:
            paths = self._receive(model_dir, announced)
            if problem:
                raise P.ProtocolError(f"malformed load request: {problem}")
            main = paths[0]
            fmt = _FORMATS.get(main.suffix.lower())
            if fmt is None:
                raise InvalidInputError(f"the agent runs .onnx or OpenVINO .xml models, not {main.name}")
            impl = BACKENDS.get(backend)()
            opts = SessionOptions(threads=threads, precision=precision, extra=dict(options))
            with self.agent.busy, track_peak_rss() as memory:
                session = impl.load(Artifact(path=main, format=fmt, precision=artifact_precision), opts)
        except BaseException:
            shutil.rmtree(model_dir, ignore_errors=True)
            raise
        total = sum(size for _, size, _ in announced)
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
        model_id = msg.get("model_id")
        session = self.sessions.get(model_id) if isinstance(model_id, str) else None
        if session is None:
            raise InvalidInputError(f"unknown model_id {model_id!r}: load the model on this connection first")
        return session

    def _run(self, msg: dict[str, Any]) -> dict[str, Any]:
        session = self._session(msg)
        inputs = P.decode_arrays(msg.get("inputs"))
        with self.agent.busy:
            outputs = session.run(inputs)
        return {"outputs": P.encode_arrays(list(outputs))}

    def _profile(self, msg: dict[str, Any]) -> dict[str, Any]:
        session = self._session(msg)
        inputs = P.decode_arrays(msg.get("inputs"))
        raw = msg.get("protocol") or {}
        if not isinstance(raw, dict):
            raise P.ProtocolError("malformed profile request: 'protocol' must be an object of TimingProtocol fields")
        try:
            protocol = TimingProtocol.from_dict(raw)
        except (TypeError, ValueError) as exc:
            raise P.ProtocolError(f"malformed profile request: bad timing protocol ({exc})") from None
        # one connection must not hold the device for hours: the lock is shared by every host
        if (
            protocol.warmup > MAX_PROFILE_ITERS
            or protocol.max_iters > MAX_PROFILE_ITERS
            or protocol.rounds > 1000
            or protocol.min_seconds + protocol.warmup_seconds + protocol.pause_s > MAX_PROFILE_SECONDS
        ):
            raise InvalidInputError(
                f"timing protocol too long for the agent: at most {MAX_PROFILE_ITERS} iterations, 1000 rounds and "
                f"{MAX_PROFILE_SECONDS:g} s of timing per request"
            )
        with self.agent.busy:
            outputs = session.run(inputs)
            stats = measure(session, inputs, protocol)
        threads = getattr(getattr(session, "options", None), "threads", None)
        return {
            "stats": stats.to_dict(include_times=True),
            "outputs": P.encode_arrays(list(outputs)),
            "fingerprint": fingerprint(threads=threads),
            "pid": os.getpid(),
        }


@contextmanager
def _exit_on_signals() -> Iterator[None]:
    """SIGTERM ends the agent like Ctrl-C does (through the cleanup in serve_forever), exit status 143; SIGINT
    raises KeyboardInterrupt (exit status 130) however the agent was started."""

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, stop)
    # Ctrl-C / SIGINT stops the agent even when it was started with SIGINT ignored (as a shell's background
    # job is): Python then installs no KeyboardInterrupt handler of its own, and the temp files would stay
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def serve(
    *,
    token: str,
    host: str = "127.0.0.1",
    port: int = 0,
    max_upload_bytes: int = P.DEFAULT_MAX_UPLOAD_BYTES,
    max_message_bytes: int = P.DEFAULT_MAX_MESSAGE_BYTES,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S,
    hello_timeout: float = DEFAULT_HELLO_TIMEOUT_S,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    tls_cert: str | os.PathLike | None = None,
    tls_key: str | os.PathLike | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the agent until interrupted (Ctrl-C, SIGTERM). Binds to loopback unless `host` says otherwise."""
    agent = Agent(
        token=token,
        host=host,
        port=port,
        max_upload_bytes=max_upload_bytes,
        max_message_bytes=max_message_bytes,
        idle_timeout=idle_timeout,
        hello_timeout=hello_timeout,
        max_connections=max_connections,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    if host not in _LOOPBACK and agent.tls is None:
        log.warning("the agent listens on %s without TLS: use --tls-cert/--tls-key or an SSH tunnel", host)
    with _exit_on_signals():
        agent.serve_forever(on_ready=on_ready)
