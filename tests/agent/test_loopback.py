"""The agent on loopback: same outputs as a local run, clear errors for bad requests, and it keeps serving."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from edgecnn.artifact import Artifact
from edgecnn.errors import DeviceUnavailableError, InvalidInputError
from edgecnn.profiling.stats import LatencyStats
from edgecnn.profiling.timing import TimingProtocol
from edgecnn.runtime import load_session
from edgecnn.runtime import protocol as P
from edgecnn.runtime.remote import AgentClient, AgentError

from .conftest import IDLE_TIMEOUT_S, MAX_UPLOAD_MB, TOKEN, raw_connect, send_load

QUICK = TimingProtocol(warmup=2, min_iters=10, min_seconds=0.05, rounds=2, pause_s=0.0)


def _remote(art, url, **kw):
    return load_session(art, backend="remote", device=url, token=TOKEN, threads=1, **kw)


def assert_serving(url, art, x):
    """A full load + run on a new connection works: the agent survived whatever came before."""
    s = _remote(art, url)
    try:
        np.testing.assert_allclose(s.run(x)[0], load_session(art, threads=1).run(x)[0], atol=1e-5, rtol=0)
    finally:
        s.close()


def _raw(url: str, *, hello: bool = True) -> socket.socket:
    return raw_connect(url, token=TOKEN if hello else None)


def test_outputs_match_local_run_and_profile_returns_times(agent, lenet_onnx, lenet_input):
    url, _, _ = agent
    s = _remote(lenet_onnx, url)
    try:
        local = load_session(lenet_onnx, threads=1).run(lenet_input)[0]
        np.testing.assert_allclose(s.run(lenet_input)[0], local, atol=1e-5, rtol=0)
        stats, outs, fp = s.profile(lenet_input, QUICK)
        np.testing.assert_allclose(outs[0], local, atol=1e-5, rtol=0)
        times = LatencyStats.from_dict(stats).times_ms
        assert len(times) >= QUICK.min_iters and all(t > 0 for t in times)
        assert fp["arch"] and fp["versions"]["onnxruntime"] and fp["threads"] == 1
        assert s.describe()["device"]["backend"] == "onnxruntime"
    finally:
        s.close()


def test_profile_api_through_the_agent_compares_with_the_baseline(agent, lenet_onnx, lenet_input):
    import edgecnn

    url, _, _ = agent
    r = edgecnn.profile(
        lenet_onnx, baseline=lenet_onnx, device=url, token=TOKEN, threads=1, protocol=QUICK, inputs=lenet_input
    )
    d = r.to_dict()
    assert d["backend"] == "remote" and d["target"] == "arm"
    assert d["baseline"]["iterations"] >= QUICK.min_iters and d["optimized"]["iterations"] >= QUICK.min_iters
    assert d["fidelity"]["max_abs_error"] == 0.0  # the same model on the same device
    assert d["device_environment"]["arch"] and r.speedup > 0
    np.testing.assert_allclose(
        r.outputs["optimized"][0], load_session(lenet_onnx).run(lenet_input)[0], atol=1e-5, rtol=0
    )


def test_wrong_token_is_refused_and_the_agent_keeps_serving(agent, lenet_onnx, lenet_input):
    url, _, _ = agent
    with pytest.raises(AgentError, match="wrong token") as info:
        load_session(lenet_onnx, backend="remote", device=url, token="not-the-token")
    assert info.value.kind == "auth"
    sock = _raw(url, hello=False)  # skipping hello is refused too
    P.send_message(sock, {"type": "run", "model_id": "x", "inputs": []})
    assert P.recv_message(sock)["error"]["kind"] == "auth"
    sock.close()
    assert_serving(url, lenet_onnx, lenet_input)


def test_oversized_upload_is_refused_and_the_agent_keeps_serving(agent, lenet_onnx, lenet_input, tmp_path):
    url, _, _ = agent
    limit = int(MAX_UPLOAD_MB * 2**20)
    # the client checks the agent's advertised limit before sending
    big = tmp_path / "big.onnx"
    big.write_bytes(b"\0" * (limit + 1))
    with pytest.raises(InvalidInputError, match="accepts uploads up to"):
        load_session(Artifact(path=big, format="onnx"), backend="remote", device=url, token=TOKEN)
    # a client that ignores it: a message whose header announces too much is refused unread
    sock = _raw(url)
    sock.sendall(P.HEADER.pack(2**31))  # far over the JSON message cap
    reply = P.recv_message(sock)
    assert reply["error"]["kind"] == "too_large" and "exceeds the limit" in reply["error"]["message"]
    sock.close()
    # a load that announces a file over the limit is refused before its bytes are read
    sock = _raw(url)
    send_load(sock, [("m.onnx", b"\0" * (limit + 10))])
    reply = P.recv_message(sock)
    assert reply["error"]["kind"] == "too_large" and "exceeds the agent's limit" in reply["error"]["message"]
    sock.close()
    assert_serving(url, lenet_onnx, lenet_input)


@pytest.mark.parametrize(
    "body, expected",
    [
        (b"\xff\xfe not json", "not UTF-8 JSON"),
        (b"[1, 2, 3]", "expected a JSON object"),
        (b'{"v": 99, "type": "hello"}', "protocol version 99"),
        (b'{"v": 2, "type": "dance"}', "unknown request type"),
        (b'{"v": 2, "type": "load", "files": "nope"}', "'files' must be a non-empty list"),
        (
            b'{"v": 2, "type": "run", "model_id": "x", '
            b'"inputs": {"input": {"dtype": "<f4", "shape": [2], "data": "!!"}}}',
            "malformed array",
        ),
    ],
)
def test_malformed_messages_get_clear_errors_and_the_agent_keeps_serving(
    agent, lenet_onnx, lenet_input, body, expected
):
    url, _, _ = agent
    sock = _raw(url)
    if b'"run"' in body:  # needs a loaded model so the array itself is what fails
        send_load(sock, [(lenet_onnx.path.name, lenet_onnx.path.read_bytes())])
        model_id = P.recv_message(sock)["model_id"]
        body = body.replace(b'"x"', f'"{model_id}"'.encode())
    sock.sendall(P.HEADER.pack(len(body)) + body)
    reply = P.recv_message(sock)
    assert reply["ok"] is False and reply["error"]["kind"] == "malformed" and expected in reply["error"]["message"]
    # the same connection still works after a malformed message
    P.send_message(sock, {"type": "bye"})
    assert P.recv_message(sock)["ok"]
    sock.close()
    assert_serving(url, lenet_onnx, lenet_input)


def test_a_model_that_does_not_load_is_a_clear_error(agent, lenet_onnx, lenet_input, tmp_path):
    url, _, _ = agent
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"this is not an onnx model")
    with pytest.raises(AgentError, match="cannot load"):
        load_session(Artifact(path=bad, format="onnx"), backend="remote", device=url, token=TOKEN)
    assert_serving(url, lenet_onnx, lenet_input)


def test_uploads_land_in_a_temp_dir_that_is_removed(agent, lenet_onnx, lenet_input):
    url, tmp, _ = agent
    s = _remote(lenet_onnx, url)
    s.run(lenet_input)
    live = list(tmp.glob("edgecnn-agent-*"))
    assert live and any(p.name == lenet_onnx.path.name for d in live for p in d.rglob("*"))
    s.close()
    deadline = time.monotonic() + 10  # the agent cleans up right after answering "bye"
    while list(tmp.glob("edgecnn-agent-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(tmp.glob("edgecnn-agent-*"))
    assert_serving(url, lenet_onnx, lenet_input)


def test_idle_connection_times_out_and_the_agent_keeps_serving(agent, lenet_onnx, lenet_input):
    url, _, _ = agent
    client = AgentClient(url, token=TOKEN)
    time.sleep(IDLE_TIMEOUT_S + 1.0)
    with pytest.raises(DeviceUnavailableError, match="lost"):
        client.request({"type": "bye"})
    assert_serving(url, lenet_onnx, lenet_input)


def test_host_side_timeout_and_unreachable_agent_are_clear_errors(monkeypatch, lenet_onnx):
    server = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    port = server.getsockname()[1]
    try:
        with pytest.raises(DeviceUnavailableError, match="did not answer within 1 s"):
            AgentClient(f"tcp://127.0.0.1:{port}", token="t", timeout=1.0)
    finally:
        server.close()
    with pytest.raises(DeviceUnavailableError, match="cannot reach the edgecnn agent"):
        AgentClient(f"tcp://127.0.0.1:{port}", token="t", timeout=1.0)
    with pytest.raises(InvalidInputError, match="tcp://host:port or tls://host:port"):
        AgentClient("http://example.org", token="t")
    monkeypatch.delenv("EDGECNN_AGENT_TOKEN", raising=False)
    with pytest.raises(InvalidInputError, match="token"):
        load_session(lenet_onnx, backend="remote", device=f"tcp://127.0.0.1:{port}")


def test_profile_through_the_agent_rejects_what_it_cannot_run(agent, lenet_onnx, lenet_spec):
    import edgecnn

    url, _, _ = agent
    with pytest.raises(InvalidInputError, match="export the PyTorch model first"):
        edgecnn.profile(lenet_spec, device=url, token=TOKEN)
    with pytest.raises(InvalidInputError, match="target is arm, onnxruntime or openvino"):
        edgecnn.profile(lenet_onnx, target="tensorrt", device=url, token=TOKEN)


@pytest.mark.openvino
def test_openvino_runs_on_the_agent_when_asked(agent, lenet_onnx, lenet_input):
    import edgecnn

    url, _, _ = agent
    r = edgecnn.profile(
        lenet_onnx,
        target="openvino",
        device=url,
        token=TOKEN,
        threads=1,
        protocol=QUICK,
        inputs=lenet_input,
        roofline=False,
    )
    assert r.sessions["optimized"]["device"]["backend"] == "openvino" and r.target == "openvino"
    np.testing.assert_allclose(
        r.outputs["optimized"][0], load_session(lenet_onnx).run(lenet_input)[0], atol=1e-4, rtol=0
    )
