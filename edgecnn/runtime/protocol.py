"""Wire format between host and agent: versioned JSON messages over a length-prefixed TCP (or TLS) stream.

Each message is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON (an object with
"v" = PROTOCOL_VERSION and "type"). Replies carry "ok": true, or "ok": false and "error": {"kind", "message"}.
Model files are not inside the JSON: a "load" message lists them ({name, size, sha256}) and their raw bytes
follow it on the stream, in that order, so the agent writes them to disk as they arrive. Arrays (inputs,
outputs) are small and travel base64-encoded inside the JSON.

Authentication is a challenge-response: the token never crosses the wire.
  hello   {}                                        -> {challenge (hex nonce), protocol}
  auth    {hmac = auth_digest(token, challenge)}    -> {agent, fingerprint, limits, backends}
  load    {files [{name, size, sha256}], backend, threads, precision, options} + the files' bytes
                                                    -> {model_id, inputs, outputs, describe, memory}
  run     {model_id, inputs}                        -> {outputs}
  profile {model_id, inputs, protocol}              -> {stats, outputs, fingerprint}
  bye     {}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import struct
import time
from typing import Any

import numpy as np

from edgecnn.errors import DeviceUnavailableError, InvalidInputError

PROTOCOL_VERSION = 2  # 1: token in clear inside hello, files base64 inside the JSON
HEADER = struct.Struct(">I")
DEFAULT_MAX_MESSAGE_BYTES = 64 * 2**20  # JSON messages after authentication (arrays); uploads are separate
DEFAULT_MAX_UPLOAD_BYTES = 128 * 2**20
PRE_AUTH_MAX_MESSAGE_BYTES = 4096  # hello and auth are tiny: nothing bigger is read from a stranger
CHUNK = 1 << 20
_AUTH_CONTEXT = b"edgecnn-agent-auth-v2:"


def new_challenge() -> str:
    return os.urandom(32).hex()


def auth_digest(token: str, challenge: str) -> str:
    """HMAC-SHA256 of the agent's challenge under the shared token: what the host sends instead of the token."""
    return hmac.new(token.encode(), _AUTH_CONTEXT + challenge.encode(), hashlib.sha256).hexdigest()


class ProtocolError(InvalidInputError):
    """A message that breaks the protocol (bad framing, bad JSON, unknown type, wrong version)."""


class MessageTooLarge(ProtocolError):
    pass


class ConnectionClosed(DeviceUnavailableError):
    pass


def send_message(sock: socket.socket, message: dict[str, Any]) -> None:
    body = json.dumps({"v": PROTOCOL_VERSION, **message}, separators=(",", ":")).encode()
    sock.sendall(HEADER.pack(len(body)) + body)


def _recv(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    if deadline is not None:  # an absolute deadline: a peer trickling one byte at a time cannot extend it
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        sock.settimeout(left)
    return sock.recv(n)


def recv_exact(sock: socket.socket, n: int, *, deadline: float | None = None) -> bytes:
    chunks, left = [], n
    while left:
        chunk = _recv(sock, min(left, CHUNK), deadline)
        if not chunk:
            raise ConnectionClosed("the connection closed in the middle of a message")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_header(sock: socket.socket, *, deadline: float | None = None) -> int:
    """Length of the next message; ConnectionClosed when the peer closed cleanly before it."""
    first = _recv(sock, HEADER.size, deadline)
    if not first:
        raise ConnectionClosed("the peer closed the connection")
    raw = first + (recv_exact(sock, HEADER.size - len(first), deadline=deadline) if len(first) < HEADER.size else b"")
    return HEADER.unpack(raw)[0]


def recv_message(
    sock: socket.socket,
    *,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    deadline: float | None = None,
    check_version: bool = True,
) -> dict[str, Any]:
    """Read one message. Oversized messages raise MessageTooLarge before their body is read."""
    n = read_header(sock, deadline=deadline)
    if n > max_bytes:
        raise MessageTooLarge(f"message of {n} bytes exceeds the limit of {max_bytes} bytes")
    return decode(recv_exact(sock, n, deadline=deadline), check_version=check_version)


def send_file(sock: socket.socket, path: Any) -> None:
    """The raw bytes of one file, in chunks (after the "load" message that announced its size)."""
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sock.sendall(chunk)


def decode(body: bytes, *, check_version: bool = True) -> dict[str, Any]:
    try:
        msg = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"malformed message: not UTF-8 JSON ({exc})") from None
    if not isinstance(msg, dict):
        raise ProtocolError(f"malformed message: expected a JSON object, got {type(msg).__name__}")
    if check_version and msg.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {msg.get('v')!r} is not supported (this side speaks version {PROTOCOL_VERSION}): "
            "install the same edgecnn version on the host and the device"
        )
    if not isinstance(msg.get("type", ""), str):
        raise ProtocolError("malformed message: 'type' must be a string")
    return msg


def encode_array(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(d: Any) -> np.ndarray:
    try:
        dtype = np.dtype(d["dtype"])
        if dtype.hasobject:
            raise ValueError("object arrays are not allowed")
        shape = tuple(int(s) for s in d["shape"])
        return np.frombuffer(base64.b64decode(d["data"], validate=True), dtype=dtype).reshape(shape).copy()
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed array: {exc}") from None


def encode_arrays(arrays: dict[str, np.ndarray] | list[np.ndarray]) -> Any:
    if isinstance(arrays, dict):
        return {k: encode_array(v) for k, v in arrays.items()}
    return [encode_array(v) for v in arrays]


def decode_arrays(data: Any) -> Any:
    if isinstance(data, dict):
        return {str(k): decode_array(v) for k, v in data.items()}
    if isinstance(data, list):
        return [decode_array(v) for v in data]
    raise ProtocolError("malformed message: arrays must be a list or an object")


def error_reply(kind: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"kind": kind, "message": message}}
