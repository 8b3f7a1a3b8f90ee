"""Wire format: arrays round-trip exactly; framing and JSON errors are typed."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from edgecnn.runtime import protocol as P


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8", "int8", "int64"])
def test_arrays_round_trip_bit_exact(dtype):
    a = (np.random.default_rng(0).standard_normal((2, 3, 4)) * 50).astype(dtype)
    b = P.decode_array(P.encode_array(a))
    assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b)
    assert P.decode_arrays(P.encode_arrays({"x": a}))["x"].tobytes() == a.tobytes()


def test_object_arrays_and_bad_shapes_are_refused():
    with pytest.raises(P.ProtocolError, match="malformed array"):
        P.decode_array({"dtype": "|O", "shape": [1], "data": ""})
    enc = P.encode_array(np.zeros(4, np.float32))
    with pytest.raises(P.ProtocolError, match="malformed array"):
        P.decode_array({**enc, "shape": [5]})


def test_messages_frame_and_limit():
    a, b = socket.socketpair()
    with a, b:
        P.send_message(a, {"type": "hello", "token": "t"})
        assert P.recv_message(b) == {"v": P.PROTOCOL_VERSION, "type": "hello", "token": "t"}
        P.send_message(a, {"type": "load", "files": ["x" * 1000]})
        with pytest.raises(P.MessageTooLarge, match="exceeds the limit of 100 bytes"):
            P.recv_message(b, max_bytes=100)
        a.close()
        b.recv(1 << 16)  # drain the unread body
        with pytest.raises(P.ConnectionClosed):
            P.recv_message(b)
