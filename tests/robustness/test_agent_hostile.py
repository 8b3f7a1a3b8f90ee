"""Hostile and malformed messages: each gets a clear refusal (never kind "internal"), and the agent keeps serving.

One agent for the module: hello deadline 2 s, upload cap 1 MiB, 8 connections at once.
"""

from __future__ import annotations

import select
import socket
import time

import pytest

from edgecnn.runtime import protocol as P

from .conftest import (
    TOKEN,
    announce,
    assert_closed,
    check_valid_client,
    connect,
    reply_or_closed,
    send_load,
    start_agent,
    stop_agent,
)

HELLO_TIMEOUT_S = 2.0
MAX_UPLOAD = 2**20
MAX_CONNECTIONS = 8


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile_tmp")
    proc, url = start_agent(
        tmp,
        "--hello-timeout",
        str(HELLO_TIMEOUT_S),
        "--max-upload-mb",
        "1",
        "--max-connections",
        str(MAX_CONNECTIONS),
        "--idle-timeout",
        "20",
    )
    yield url, tmp, proc
    err = stop_agent(proc)
    assert "Traceback" not in err, err[-3000:]


@pytest.fixture
def serving(agent, tiny_model):
    """The agent's url; after the test, a valid client still loads and runs a model."""
    url = agent[0]
    yield url
    check_valid_client(url, tiny_model)


def refusal(reply: dict | None) -> tuple[str, str]:
    assert reply is not None and reply["ok"] is False, reply
    kind, message = reply["error"]["kind"], reply["error"]["message"]
    assert kind != "internal", message
    return kind, message


def raw(sock: socket.socket, body: bytes) -> None:
    sock.sendall(P.HEADER.pack(len(body)) + body)


# --- before authentication: strangers get a small cap, a deadline and one strike -----------------------------


def test_huge_length_prefix_without_hello_is_refused_unread(serving):
    sock = connect(serving, token=None)
    sock.sendall(P.HEADER.pack(150 * 2**20) + b"x" * 65536)  # announces 150 MiB
    kind, message = refusal(reply_or_closed(sock))
    assert kind == "too_large" and "limit of 4096 bytes" in message and "before authentication" in message
    assert_closed(sock)


def test_a_message_just_over_the_pre_auth_cap_is_refused(serving):
    sock = connect(serving, token=None)
    raw(sock, b'{"v": 2, "type": "hello", "pad": "' + b"a" * 5000 + b'"}')
    kind, _ = refusal(reply_or_closed(sock))
    assert kind == "too_large"
    assert_closed(sock)


def test_an_http_request_is_refused(serving):
    sock = connect(serving, token=None)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: agent\r\n\r\n")  # "GET " read as a length: ~1.2 GB
    kind, _ = refusal(reply_or_closed(sock))
    assert kind == "too_large"
    assert_closed(sock)


def test_garbage_bytes_are_a_bad_request_and_close_the_connection(serving):
    sock = connect(serving, token=None)
    raw(sock, bytes(range(256)))
    kind, message = refusal(reply_or_closed(sock))
    assert kind == "malformed" and message.startswith("bad request:") and "not UTF-8 JSON" in message
    assert_closed(sock)


def test_an_idle_stranger_is_dropped_at_the_hello_deadline(serving):
    sock = connect(serving, token=None)
    t0 = time.monotonic()
    sock.settimeout(HELLO_TIMEOUT_S + 5)
    kind, message = refusal(reply_or_closed(sock))
    assert kind == "auth" and "no authentication within 2 s" in message
    assert HELLO_TIMEOUT_S - 0.5 < time.monotonic() - t0 < HELLO_TIMEOUT_S + 2


def test_a_slowloris_trickle_does_not_extend_the_deadline(serving):
    sock = connect(serving, token=None)
    body = b'{"v": 2, "type": "hello"}'
    t0 = time.monotonic()
    frame = P.HEADER.pack(len(body)) + body
    try:
        for b in frame:  # one byte every 0.3 s: the whole frame would take ~8 s
            sock.sendall(bytes([b]))
            time.sleep(0.3)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert time.monotonic() - t0 < HELLO_TIMEOUT_S + 2.5
    assert_closed(sock)


def test_a_wrong_hmac_is_refused(serving):
    sock = connect(serving, token=None)
    P.send_message(sock, {"type": "hello"})
    challenge = P.recv_message(sock)["challenge"]
    P.send_message(sock, {"type": "auth", "hmac": P.auth_digest("not-the-token", challenge)})
    kind, message = refusal(reply_or_closed(sock))
    assert kind == "auth" and "wrong token" in message
    assert_closed(sock)


def test_a_replayed_answer_to_an_old_challenge_is_refused(serving):
    first = connect(serving, token=None)
    P.send_message(first, {"type": "hello"})
    old = P.recv_message(first)["challenge"]
    first.close()
    sock = connect(serving, token=None)
    P.send_message(sock, {"type": "hello"})
    assert P.recv_message(sock)["challenge"] != old  # a fresh nonce per connection
    P.send_message(sock, {"type": "auth", "hmac": P.auth_digest(TOKEN, old)})
    assert refusal(reply_or_closed(sock))[0] == "auth"


@pytest.mark.parametrize(
    "message",
    [
        {"type": "auth", "hmac": "00" * 32},  # auth before hello: no challenge to answer
        {"type": "load", "files": []},
        {"type": "run", "model_id": "x", "inputs": []},
        {"type": "hello", "hmac": 5},  # hello twice, second time with junk
    ],
    ids=["auth-first", "load", "run", "hello-twice"],
)
def test_requests_before_authentication_are_refused(serving, message):
    sock = connect(serving, token=None)
    if message.get("hmac") == 5:
        P.send_message(sock, {"type": "hello"})
        assert P.recv_message(sock)["ok"]
    P.send_message(sock, message)
    kind, message = refusal(reply_or_closed(sock))
    assert kind == "auth" and "authenticate first" in message
    assert_closed(sock)


def test_a_version_1_client_gets_a_clear_version_error(serving):
    sock = connect(serving, token=None)
    raw(sock, b'{"v": 1, "type": "hello", "token": "robustness-test-token"}')
    reply = P.decode(P.recv_exact(sock, P.read_header(sock)), check_version=False)
    kind, message = refusal(reply)
    assert reply["v"] == 2 and kind == "malformed" and "protocol version 1 is not supported" in message
    assert TOKEN not in message


def test_too_many_connections_are_told_busy(agent, serving):
    held: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 10
        while len(held) < MAX_CONNECTIONS and time.monotonic() < deadline:
            sock = connect(serving, token=None)
            ready, _, _ = select.select([sock], [], [], 0.2)
            if ready:  # told busy: a connection of an earlier test is still being closed; try again
                sock.close()
            else:
                held.append(sock)
        extra = connect(serving, token=None)
        kind, message = refusal(reply_or_closed(extra))
        assert kind == "busy" and f"already serves {MAX_CONNECTIONS} connections" in message
    finally:
        for s in held:
            s.close()
    time.sleep(0.5)  # the slots are released as the agent sees the closes


# --- after authentication: bad requests are "malformed" (bad request) or "user", never "internal" -----------


def test_an_upload_over_the_cap_is_refused_before_its_bytes_are_read(serving):
    sock = connect(serving)
    data = b"\0" * (MAX_UPLOAD + 1)
    P.send_message(sock, {"type": "load", "files": announce([("big.onnx", data)])})
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    kind, message = refusal(reply_or_closed(sock))
    assert kind == "too_large" and f"exceeds the agent's limit of {MAX_UPLOAD} bytes" in message


@pytest.mark.parametrize(
    "files, expected",
    [
        ([1, 2], "each file must be an object"),
        ([{"name": "m\x00.onnx", "size": 1, "sha256": "0" * 64}], "bad file name"),
        ([{"name": "../../etc/passwd", "size": 1, "sha256": "0" * 64}], "bad file name"),
        ([{"name": ".hidden.onnx", "size": 1, "sha256": "0" * 64}], "bad file name"),
        ([{"name": "m\nx.onnx", "size": 1, "sha256": "0" * 64}], "bad file name"),
        ([{"name": "\ud800.onnx", "size": 1, "sha256": "0" * 64}], "bad file name"),
        ([{"name": 7, "size": 1, "sha256": "0" * 64}], "bad file name"),
        ([{"name": "m.onnx", "size": -5, "sha256": "0" * 64}], "'size' must be a byte count"),
        ([{"name": "m.onnx", "size": "1", "sha256": "0" * 64}], "'size' must be a byte count"),
        ([{"name": "m.onnx", "size": 1, "sha256": "xyz"}], "'sha256' must be 64 lowercase hex"),
        ([{"name": "m.onnx", "size": 1, "sha256": "0" * 64}] * 2, "listed twice"),
        ([{"name": f"m{i}.onnx", "size": 1, "sha256": "0" * 64} for i in range(17)], "at most 16"),
    ],
    ids=["ints", "nul", "traversal", "dotfile", "newline", "surrogate", "name-int", "neg-size", "str-size",
         "bad-sha", "duplicate", "too-many"],
)  # fmt: skip
def test_bad_file_lists_are_bad_requests(serving, files, expected):
    sock = connect(serving)
    P.send_message(sock, {"type": "load", "files": files})
    kind, message = refusal(reply_or_closed(sock))
    assert kind == "malformed" and message.startswith("bad request:") and expected in message
    assert_closed(sock)  # raw bytes of unknown length may follow: the stream cannot be trusted


def test_a_checksum_mismatch_is_refused_and_the_connection_stays_usable(serving, tiny_model):
    sock = connect(serving)
    data = tiny_model.path.read_bytes()
    P.send_message(sock, {"type": "load", "files": [{"name": "m.onnx", "size": len(data), "sha256": "0" * 64}]})
    sock.sendall(data)
    kind, message = refusal(reply_or_closed(sock))
    assert kind == "user" and "checksum mismatch" in message
    send_load(sock, [("m.onnx", data)])  # the same connection, a correct upload
    assert P.recv_message(sock)["ok"]


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"threads": "many"}, "'threads' must be a positive integer"),
        ({"threads": True}, "'threads' must be a positive integer"),
        ({"backend": "remote"}, "'backend' must be the name of a backend"),
        ({"backend": ["onnxruntime"]}, "'backend' must be the name of a backend"),
        ({"options": [1]}, "'options' must be an object"),
        ({"precision": 16}, "'precision' and 'artifact_precision' must be strings"),
    ],
)
def test_bad_load_fields_are_bad_requests_after_the_bytes(serving, tiny_model, fields, expected):
    sock = connect(serving)
    send_load(sock, [("m.onnx", tiny_model.path.read_bytes())], **fields)
    kind, message = refusal(reply_or_closed(sock))
    assert kind == "malformed" and expected in message
    P.send_message(sock, {"type": "bye"})  # the bytes were read: the connection is still in sync
    assert P.recv_message(sock)["ok"]


def test_an_unknown_backend_is_a_user_error(serving, tiny_model):
    sock = connect(serving)
    send_load(sock, [("m.onnx", tiny_model.path.read_bytes())], backend="tensorflow")
    kind, _ = refusal(reply_or_closed(sock))
    assert kind == "user"


def test_an_upload_cut_short_leaves_no_files_behind(agent, serving):
    url, tmp, _ = agent
    before = set(tmp.glob("edgecnn-agent-*"))  # other tests' connections may still be closing
    sock = connect(url)
    P.send_message(sock, {"type": "load", "files": announce([("m.onnx", b"\1" * 1000)])})
    sock.sendall(b"\1" * 10)
    sock.close()
    deadline = time.monotonic() + 10
    while set(tmp.glob("edgecnn-agent-*")) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(tmp.glob("edgecnn-agent-*")) - before


@pytest.mark.parametrize(
    "request_, expected_kind, expected",
    [
        ({"type": "run", "model_id": ["x"], "inputs": []}, "user", "unknown model_id"),
        (
            {"type": "run", "model_id": "MID", "inputs": {"x": {"dtype": "<f4", "shape": [10**9], "data": ""}}},
            "malformed",
            "malformed array",
        ),
        ({"type": "run", "model_id": "MID", "inputs": 5}, "malformed", "arrays must be a list or an object"),
        ({"type": "profile", "model_id": "MID", "inputs": [], "protocol": [1]}, "malformed", "'protocol' must be"),
        (
            {"type": "profile", "model_id": "MID", "inputs": [], "protocol": {"warmup": "x"}},
            "malformed",
            "bad timing protocol",
        ),
        (
            {"type": "profile", "model_id": "MID", "inputs": [], "protocol": {"min_seconds": 1e9}},
            "user",
            "timing protocol too long",
        ),
        ({"type": "auth", "hmac": "00"}, "malformed", "unknown request type 'auth'"),
        ({"type": None}, "malformed", "'type' must be a string"),
        ({"type": "dance"}, "malformed", "unknown request type 'dance'"),
    ],
    ids=["model-id-list", "huge-shape", "inputs-int", "protocol-list", "protocol-type", "protocol-long",
         "auth-again", "type-null", "type-unknown"],
)  # fmt: skip
def test_bad_run_and_profile_requests_are_clear_errors(serving, tiny_model, request_, expected_kind, expected):
    sock = connect(serving)
    send_load(sock, [("m.onnx", tiny_model.path.read_bytes())])
    model_id = P.recv_message(sock)["model_id"]
    if request_.get("model_id") == "MID":
        request_ = {**request_, "model_id": model_id}
    P.send_message(sock, request_)
    kind, message = refusal(reply_or_closed(sock))
    assert kind == expected_kind and expected in message
    P.send_message(sock, {"type": "bye"})
    assert P.recv_message(sock)["ok"]
