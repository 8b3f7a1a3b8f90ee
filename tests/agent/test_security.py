"""The token never crosses the wire, TLS with a pinned certificate, options checked at start, temp files cleaned
on SIGTERM/SIGINT, and a clear error between protocol versions."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from edgecnn.agent.__main__ import main as agent_main
from edgecnn.errors import DeviceUnavailableError, UserError
from edgecnn.runtime import load_session
from edgecnn.runtime import protocol as P
from edgecnn.runtime.remote import AgentClient, AgentError

from .conftest import BLOCK_TORCH, TOKEN, start_agent, stop_agent


class RecordingProxy:
    """Forwards one port to the agent and keeps every byte that passes, both ways."""

    def __init__(self, target: str) -> None:
        host, port = target.split("://")[-1].split(":")
        self.target = (host, int(port))
        self.server = socket.create_server(("127.0.0.1", 0))
        self.seen = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.server.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                with self.lock:
                    self.seen += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_the_token_never_crosses_the_wire(agent, lenet_onnx, lenet_input):
    url, _, _ = agent
    proxy = RecordingProxy(url)
    s = load_session(lenet_onnx, backend="remote", device=proxy.url, token=TOKEN, threads=1)
    try:
        s.run(lenet_input)
    finally:
        s.close()
    proxy.server.close()
    seen = bytes(proxy.seen)
    assert b'"challenge"' in seen and b'"hmac"' in seen  # the handshake went through the proxy
    assert TOKEN.encode() not in seen and TOKEN.encode().hex().encode() not in seen
    assert lenet_onnx.path.read_bytes() in seen  # the model travelled as raw bytes, not base64


def test_an_agent_of_another_protocol_version_is_a_clear_error():
    server = socket.create_server(("127.0.0.1", 0))

    def old_agent() -> None:  # a protocol-1 agent refuses the version-2 hello in its own version
        conn, _ = server.accept()
        with conn:
            P.read_header(conn)
            body = json.dumps({"v": 1, "ok": False, "error": {"kind": "malformed", "message": "protocol version 2 is "
                               "not supported (this side speaks version 1)"}}).encode()  # fmt: skip
            conn.sendall(P.HEADER.pack(len(body)) + body)

    threading.Thread(target=old_agent, daemon=True).start()
    try:
        with pytest.raises(AgentError, match="agent speaks protocol version 1, this host version 2") as info:
            AgentClient(f"tcp://127.0.0.1:{server.getsockname()[1]}", token="t", timeout=5)
        assert info.value.kind == "version"
    finally:
        server.close()


# --- options checked at start: one line, exit 2 -------------------------------------------------------------


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--idle-timeout", "-1"], "--idle-timeout (seconds) must be a positive number"),
        (["--idle-timeout", "0"], "--idle-timeout (seconds) must be a positive number"),
        (["--idle-timeout", "nan"], "--idle-timeout (seconds) must be a positive number"),
        (["--hello-timeout", "inf"], "--hello-timeout (seconds) must be a positive number"),
        (["--port", "99999"], "--port must be between 0 and 65535"),
        (["--port", "-1"], "--port must be between 0 and 65535"),
        (["--max-connections", "0"], "--max-connections must be a positive integer"),
        (["--max-upload-mb", "0"], "--max-upload-mb must be positive"),
        (["--max-upload-mb", "-3"], "--max-upload-mb must be positive"),
        (["--max-message-mb", "0"], "--max-message-mb must be at least 1 KiB"),
        (["--tls-cert", "cert.pem"], "TLS needs both --tls-cert and --tls-key"),
        (["--tls-cert", "nope.pem", "--tls-key", "nope.key"], "--tls-cert: no such file"),
        (["--token", ""], "needs a shared token"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(capsys, monkeypatch, args, expected):
    monkeypatch.delenv("EDGECNN_AGENT_TOKEN", raising=False)
    assert agent_main(["serve", "--token", "t", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1 and err.startswith("error:")


def test_the_full_cli_checks_options_too():
    code = BLOCK_TORCH + "from edgecnn.cli.main import run; run()"
    for args in (["--port", "99999"], ["--idle-timeout", "-1"]):
        r = subprocess.run(
            [sys.executable, "-c", code, "agent", "serve", "--token", "t", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and ("--port" in r.stderr or "--idle-timeout" in r.stderr)


def test_listening_off_loopback_without_tls_warns(tmp_path):
    proc, url = start_agent(
        [sys.executable, "-c", BLOCK_TORCH + "import sys; from edgecnn.agent.__main__ import main; sys.exit(main())",
         "serve", "--host", "0.0.0.0", "--port", "0", "--token", TOKEN],
    )  # fmt: skip
    err = stop_agent(proc)
    warnings = [line for line in err.splitlines() if "without TLS" in line]
    assert len(warnings) == 1 and "0.0.0.0" in warnings[0]


# --- temp files on SIGTERM / SIGINT -----------------------------------------------------------------------


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_uploads_are_removed_when_the_agent_is_stopped(tmp_path, lenet_onnx, sig, code):
    env = {**os.environ, "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-c", BLOCK_TORCH + "import sys; from edgecnn.agent.__main__ import main; sys.exit(main())",
            "serve", "--port", "0", "--token", TOKEN]  # fmt: skip
    proc, url = start_agent(argv, env=env)
    s = load_session(lenet_onnx, backend="remote", device=url, token=TOKEN, threads=1)
    try:
        assert list(tmp_path.glob("edgecnn-agent-*"))  # the upload is on disk while the connection lives
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == code
        assert not list(tmp_path.glob("edgecnn-agent-*"))
    finally:
        s.client.close()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


# --- TLS ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """(cert.pem, key.pem, sha256 fingerprint) of a self-signed certificate for 127.0.0.1, made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make a test certificate)")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {r.stderr[-500:]}")
    fp = hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert.read_text())).hexdigest()
    return cert, key, fp


@pytest.fixture(scope="module")
def tls_agent(certificate, tmp_path_factory):
    cert, key, _ = certificate
    code = BLOCK_TORCH + "from edgecnn.cli.main import run; run()"
    argv = [sys.executable, "-c", code, "agent", "serve", "--port", "0", "--token", TOKEN,
            "--tls-cert", str(cert), "--tls-key", str(key), "--hello-timeout", "3"]  # fmt: skip
    proc, url = start_agent(argv)
    assert url.startswith("tls://127.0.0.1:")
    yield url
    err = stop_agent(proc)
    assert "Traceback" not in err


def test_tls_with_a_pinned_fingerprint_runs_the_model(tls_agent, certificate, lenet_onnx, lenet_input):
    _, _, fp = certificate
    local = load_session(lenet_onnx, threads=1).run(lenet_input)[0]
    pinned = ":".join(fp[i : i + 2] for i in range(0, 64, 2)).upper()  # openssl's notation is accepted too
    for device, kw in ((f"{tls_agent}?fingerprint={fp}", {}), (tls_agent, {"tls_fingerprint": pinned})):
        s = load_session(lenet_onnx, backend="remote", device=device, token=TOKEN, threads=1, **kw)
        try:
            np.testing.assert_allclose(s.run(lenet_input)[0], local, atol=1e-5, rtol=0)
            assert "?" not in s.describe()["url"]
        finally:
            s.close()


def test_tls_with_the_certificate_as_ca_checks_the_name(tls_agent, certificate, lenet_onnx, lenet_input, monkeypatch):
    cert, _, _ = certificate
    monkeypatch.setenv("EDGECNN_AGENT_TLS_CA", str(cert))
    s = load_session(lenet_onnx, backend="remote", device=tls_agent, token=TOKEN, threads=1)
    s.close()


def test_tls_refuses_another_certificate_and_plain_clients(tls_agent, lenet_onnx, lenet_input, certificate):
    with pytest.raises(UserError, match="not the pinned"):
        AgentClient(f"{tls_agent}?fingerprint={'ab' * 32}", token=TOKEN, timeout=10)
    with pytest.raises(DeviceUnavailableError, match="TLS handshake"):  # no pin, no CA: the system CAs refuse it
        AgentClient(tls_agent, token=TOKEN, timeout=10)
    with pytest.raises(DeviceUnavailableError):  # a plain client gets nowhere, and quickly
        AgentClient(tls_agent.replace("tls://", "tcp://"), token=TOKEN, timeout=10)
    s = load_session(
        lenet_onnx, backend="remote", device=f"{tls_agent}?fingerprint={certificate[2]}", token=TOKEN, threads=1
    )
    s.close()  # still serving


def test_a_tls_stranger_is_dropped_at_the_hello_deadline(tls_agent):
    host, port = tls_agent.removeprefix("tls://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)  # never starts the handshake
    t0 = time.monotonic()
    assert sock.recv(1024) == b""
    assert time.monotonic() - t0 < 6
