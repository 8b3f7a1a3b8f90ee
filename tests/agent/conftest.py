"""An agent in a separate process whose `import torch` is blocked, started through the real CLI."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edgecnn.runtime import protocol as P

TOKEN = "loopback-test-token"
MAX_UPLOAD_MB = 1.0
IDLE_TIMEOUT_S = 3.0

# torch (and torchvision) imports fail in the agent: it must work where torch is not installed
BLOCK_TORCH = "import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None; "


def start_agent(
    argv: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None
) -> tuple[subprocess.Popen, str]:
    """Start an agent command (python argv after -c ...) and return (process, tcp:// url from its first line)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    line = proc.stdout.readline()
    if "listening on tcp://" not in line and "listening on tls://" not in line:
        proc.kill()
        raise RuntimeError(f"agent did not start: {line!r} {proc.stderr.read()[-3000:]}")
    return proc, line.split()[-1]


def raw_connect(url: str, *, token: str | None = TOKEN, timeout: float = 10.0) -> socket.socket:
    """A plain socket to the agent, authenticated by challenge-response unless token is None."""
    host, port = url.split("://")[-1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    if token is not None:
        P.send_message(sock, {"type": "hello"})
        challenge = P.recv_message(sock)["challenge"]
        P.send_message(sock, {"type": "auth", "hmac": P.auth_digest(token, challenge)})
        assert P.recv_message(sock)["ok"]
    return sock


def announce(files: list[tuple[str, bytes]]) -> list[dict]:
    """The `files` list of a load message: name, size and sha256 of each (name, bytes)."""
    return [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files]


def send_load(sock: socket.socket, files: list[tuple[str, bytes]], **fields) -> None:
    """A load message announcing `files` followed by their raw bytes (what the host client sends)."""
    P.send_message(sock, {"type": "load", "files": announce(files), **fields})
    for _, data in files:
        sock.sendall(data)


def stop_agent(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    """(url, agent temp dir, process) of a loopback agent started with `edgecnn agent serve`."""
    tmp = tmp_path_factory.mktemp("agent_tmp")
    env = {**os.environ, "TMPDIR": str(tmp), "OMP_NUM_THREADS": "1"}
    code = BLOCK_TORCH + "from edgecnn.cli.main import run; run()"
    argv = [
        sys.executable,
        "-c",
        code,
        "agent",
        "serve",
        "--port",
        "0",
        "--token",
        TOKEN,
        "--max-upload-mb",
        str(MAX_UPLOAD_MB),
        "--idle-timeout",
        str(IDLE_TIMEOUT_S),
    ]
    proc, url = start_agent(argv, env=env, cwd=str(Path(__file__).resolve().parents[2]))
    yield url, tmp, proc
    stop_agent(proc)
