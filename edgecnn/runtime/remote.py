"""The "remote" backend: a Session whose model runs on a device through the edgecnn agent.

    load_session("model.onnx", backend="remote", device="tcp://pi.local:8765", token="...")
    load_session("model.onnx", backend="remote", device="tls://pi.local:8765?fingerprint=SHA256HEX", token="...")

`run` sends inputs and returns the device's outputs; `profile` runs the timing protocol on the device
and returns its per-iteration times, outputs and fingerprint. A lost connection or a timeout raises
DeviceUnavailableError naming the agent; the agent itself keeps serving.

The token never crosses the wire: the client answers the agent's challenge with its HMAC under the token.
With tls:// the certificate is pinned by its sha256 fingerprint (`?fingerprint=` in the URL, `tls_fingerprint=`
or EDGECNN_AGENT_TLS_FINGERPRINT), or checked against a CA/certificate file (`?ca=`, `tls_ca=` or
EDGECNN_AGENT_TLS_CA), or else against the system's CAs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

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


SCHEMES = ("tcp://", "tls://")


def is_agent_url(device: str | None) -> bool:
    return bool(device) and str(device).startswith(SCHEMES)


def parse_url(url: str) -> tuple[str, int]:
    return _parse(url)[1:3]


def _parse(url: str) -> tuple[str, str, int, dict[str, str]]:
    """(scheme, host, port, query) of tcp://HOST:PORT or tls://HOST:PORT[?fingerprint=...|?ca=...]."""
    parsed = urlparse(url)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme not in ("tcp", "tls") or not parsed.hostname or not port:
        raise InvalidInputError(f"device address {url!r} is not of the form tcp://host:port or tls://host:port")
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    unknown = set(query) - ({"fingerprint", "ca"} if parsed.scheme == "tls" else set())
    if unknown:
        raise InvalidInputError(f"device address {url!r}: unknown option(s) {', '.join(sorted(unknown))}")
    return parsed.scheme, parsed.hostname, port, query


def _norm_fingerprint(value: str) -> str:
    fp = value.replace(":", "").strip().lower()
    if len(fp) != 64 or any(c not in "0123456789abcdef" for c in fp):
        raise InvalidInputError(f"TLS fingerprint {value!r} is not a sha256 digest (64 hex digits, colons allowed)")
    return fp


class AgentClient:
    """One authenticated connection to an agent."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        tls_fingerprint: str | None = None,
        tls_ca: str | os.PathLike | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        scheme, host, port, query = _parse(url)
        self.display = url.split("?")[0]
        token = token or os.environ.get("EDGECNN_AGENT_TOKEN")
        if not token:
            raise InvalidInputError("a remote device needs the agent's token (--token or EDGECNN_AGENT_TOKEN)")
        context = fingerprint = None
        if scheme == "tls":
            fingerprint = tls_fingerprint or query.get("fingerprint") or os.environ.get("EDGECNN_AGENT_TLS_FINGERPRINT")
            ca = tls_ca or query.get("ca") or os.environ.get("EDGECNN_AGENT_TLS_CA")
            if fingerprint:  # pinned: the certificate's own digest is the trust, names do not matter
                fingerprint = _norm_fingerprint(fingerprint)
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            else:
                if ca and not Path(ca).is_file():
                    raise InvalidInputError(f"TLS CA file not found: {ca}")
                context = ssl.create_default_context(cafile=str(ca) if ca else None)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._sock: socket.socket | None = None
        try:
            raw = socket.create_connection((host, port), timeout=min(timeout, 30.0))
        except OSError as exc:
            raise DeviceUnavailableError(
                f"cannot reach the edgecnn agent at {self.display}: {exc.strerror or exc}; "
                "is `edgecnn agent serve` running there?"
            ) from None
        if context is not None:
            try:
                raw = context.wrap_socket(raw, server_hostname=host)
            except (ssl.SSLError, OSError) as exc:
                raw.close()
                raise DeviceUnavailableError(f"TLS handshake with the agent at {self.display} failed: {exc}") from None
            if fingerprint:
                got = hashlib.sha256(raw.getpeercert(binary_form=True) or b"").hexdigest()
                if not hmac.compare_digest(got, fingerprint):
                    raw.close()
                    raise UserError(
                        f"the agent at {self.display} presented a certificate with sha256 {got}, "
                        f"not the pinned {fingerprint}: refusing to talk to it"
                    )
        self._sock = raw
        self._sock.settimeout(timeout)
        challenge = self.request({"type": "hello"}).get("challenge")
        if not isinstance(challenge, str) or not challenge:
            self.close()
            raise DeviceUnavailableError(f"the agent at {self.display} sent no authentication challenge")
        self.info = self.request({"type": "auth", "hmac": P.auth_digest(token, challenge)})

    def request(
        self, message: dict[str, Any], *, timeout: float | None = None, files: list[Path] | None = None
    ) -> dict[str, Any]:
        """Send one request (and the raw bytes of `files` after it) and return the reply.

        Errors become AgentError / DeviceUnavailableError.
        """
        if self._sock is None:
            raise DeviceUnavailableError(f"the connection to the agent at {self.display} is closed")
        try:
            self._sock.settimeout(timeout or self.timeout)
            P.send_message(self._sock, message)
            try:
                for path in files or ():
                    P.send_file(self._sock, path)
            except OSError:  # the agent refused the upload and closed: its reply may be waiting
                pass
            reply = P.recv_message(self._sock, check_version=False)
        except TimeoutError:
            self.close()
            raise DeviceUnavailableError(
                f"the agent at {self.display} did not answer within {timeout or self.timeout:.0f} s "
                f"({message.get('type')} request); the connection was closed"
            ) from None
        except P.ConnectionClosed:
            self.close()
            raise DeviceUnavailableError(
                f"the connection to the agent at {self.display} was lost during the {message.get('type')} request"
            ) from None
        except OSError as exc:
            self.close()
            raise DeviceUnavailableError(
                f"the connection to the agent at {self.display} was lost: {exc.strerror or exc}"
            ) from None
        err = reply.get("error") or {}
        if reply.get("v") != P.PROTOCOL_VERSION:
            self.close()
            raise AgentError(
                "version",
                f"the agent speaks protocol version {reply.get('v')!r}, this host version {P.PROTOCOL_VERSION}: "
                f"install the same edgecnn version on both sides ({err.get('message', 'no message')})",
                self.display,
            )
        if not reply.get("ok"):
            raise AgentError(str(err.get("kind", "unknown")), str(err.get("message", "no message")), self.display)
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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(P.CHUNK):
            h.update(chunk)
    return h.hexdigest()


class RemoteSession(SessionBase):
    backend = "remote"

    def __init__(self, artifact: Any, options: SessionOptions) -> None:
        extra = dict(options.extra)
        url = options.device if is_agent_url(options.device) else extra.pop("url", None)
        if not url:
            raise InvalidInputError("the remote backend needs device='tcp://host:port' or 'tls://host:port'")
        self.options = options
        self.remote_backend = str(extra.pop("remote_backend", "onnxruntime"))
        self.client = AgentClient(
            url,
            token=extra.pop("token", None),
            timeout=float(extra.pop("timeout", DEFAULT_TIMEOUT_S)),
            tls_fingerprint=extra.pop("tls_fingerprint", None),
            tls_ca=extra.pop("tls_ca", None),
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
        payload = [{"name": p.name, "size": p.stat().st_size, "sha256": _sha256(p)} for p in files]
        reply = self.client.request(
            {
                "type": "load",
                "files": payload,
                "backend": self.remote_backend,
                "threads": options.threads,
                "precision": options.precision,
                "options": extra,
                "artifact_precision": getattr(artifact, "precision", None),
            },
            files=files,
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
            "url": self.client.display,
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
