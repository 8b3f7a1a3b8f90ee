"""Wire format between host and agent: versioned JSON messages over a length-prefixed TCP stream.

Each message is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON (an object with
"v" = PROTOCOL_VERSION and "type"). Binary payloads (model files, arrays) travel base64-encoded inside
the JSON, so one reader validates everything. Replies carry "ok": true, or "ok": false and
"error": {"kind", "message"}.

Requests (after "hello", which must carry the shared token):
  hello   {token}                                   -> {agent, fingerprint, limits, backends}
  load    {name, data(b64), sha256, backend, threads, precision, options}
                                                    -> {model_id, inputs, outputs, describe, memory}
  run     {model_id, inputs}                        -> {outputs}
  profile {model_id, inputs, protocol}              -> {stats, outputs, fingerprint}
  bye     {}
"""

from __future__ import annotations

import base64
import json
import socket
import struct
from typing import Any

import numpy as np

from edgecnn.errors import DeviceUnavailableError, InvalidInputError

PROTOCOL_VERSION = 1
HEADER = struct.Struct(">I")
DEFAULT_MAX_MESSAGE_BYTES = 256 * 2**20  # base64 of the upload limit plus headroom
DEFAULT_MAX_UPLOAD_BYTES = 128 * 2**20


class ProtocolError(InvalidInputError):
    """A message that breaks the protocol (bad framing, bad JSON, unknown type, wrong version)."""


class MessageTooLarge(ProtocolError):
    pass


class ConnectionClosed(DeviceUnavailableError):
    pass


def send_message(sock: socket.socket, message: dict[str, Any]) -> None:
    body = json.dumps({"v": PROTOCOL_VERSION, **message}, separators=(",", ":")).encode()
    sock.sendall(HEADER.pack(len(body)) + body)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionClosed("the connection closed in the middle of a message")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_header(sock: socket.socket) -> int:
    """Length of the next message; ConnectionClosed when the peer closed cleanly before it."""
    first = sock.recv(HEADER.size)
    if not first:
        raise ConnectionClosed("the peer closed the connection")
    raw = first + (_recv_exact(sock, HEADER.size - len(first)) if len(first) < HEADER.size else b"")
    return HEADER.unpack(raw)[0]


def recv_message(sock: socket.socket, *, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Read one message. Oversized messages raise MessageTooLarge before their body is read."""
    n = read_header(sock)
    if n > max_bytes:
        raise MessageTooLarge(f"message of {n} bytes exceeds the limit of {max_bytes} bytes")
    return decode(_recv_exact(sock, n))


def decode(body: bytes) -> dict[str, Any]:
    try:
        msg = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"malformed message: not UTF-8 JSON ({exc})") from None
    if not isinstance(msg, dict):
        raise ProtocolError(f"malformed message: expected a JSON object, got {type(msg).__name__}")
    if msg.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {msg.get('v')!r} is not supported (this side speaks version {PROTOCOL_VERSION})"
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
