"""Agents under attack: `python -m edgecnn.agent` with torch blocked, a tiny ONNX model, raw clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgecnn.artifact import Artifact
from edgecnn.runtime import load_session
from edgecnn.runtime import protocol as P

# the raw-client helpers are the agent tests' own; this folder's tests import them from here
from ..agent.conftest import BLOCK_TORCH, announce, raw_connect, send_load, stop_agent  # noqa: F401

TOKEN = "robustness-test-token"
REPO = Path(__file__).resolve().parents[2]
W = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
B = np.array([1.0, -2.0, 0.5], dtype=np.float32)


def start_agent(tmp: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`python -m edgecnn.agent serve --port 0 ...` with TMPDIR=tmp; (process, url from its first line)."""
    env = {**os.environ, "TMPDIR": str(tmp), "OMP_NUM_THREADS": "1"}
    code = BLOCK_TORCH + "import sys; from edgecnn.agent.__main__ import main; sys.exit(main())"
    argv = [sys.executable, "-c", code, "serve", "--port", "0", "--token", TOKEN, *args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO))
    line = proc.stdout.readline()
    if "listening on t" not in line:
        proc.kill()
        raise RuntimeError(f"agent did not start: {line!r} {proc.stderr.read()[-3000:]}")
    return proc, line.split()[-1]


def connect(url: str, *, token: str | None = TOKEN, timeout: float = 10.0) -> socket.socket:
    """A raw socket, authenticated by challenge-response with this folder's agent token unless token is None."""
    return raw_connect(url, token=token, timeout=timeout)


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def reply_or_closed(sock: socket.socket) -> dict | None:
    """The agent's next reply, or None when it closed the connection without one."""
    try:
        return P.recv_message(sock)
    except (P.ConnectionClosed, ConnectionResetError, BrokenPipeError):
        return None


def assert_closed(sock: socket.socket, within: float = 5.0) -> None:
    """The agent closed this connection (EOF or reset) within `within` seconds."""
    sock.settimeout(within)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if not sock.recv(1 << 16):
                return
        except (ConnectionResetError, BrokenPipeError):
            return
    raise AssertionError("the agent kept the connection open")


def expected(x: np.ndarray) -> np.ndarray:
    return x @ W + B


def check_valid_client(url: str, model: Artifact, seed: int = 0) -> None:
    """Upload the tiny model through the real host client, run it, compare with numpy."""
    x = np.random.default_rng(seed).standard_normal((1, 4)).astype(np.float32)
    s = load_session(model, backend="remote", device=url, token=TOKEN, threads=1, timeout=60.0)
    try:
        np.testing.assert_allclose(s.run(x)[0], expected(x), rtol=1e-5, atol=1e-5)
    finally:
        s.close()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Artifact:
    """y = x @ W + B (x: 1x4 float32), a two-node ONNX graph made with onnx.helper."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    onnx.save(model, str(path))
    return Artifact(path=path, format="onnx")
