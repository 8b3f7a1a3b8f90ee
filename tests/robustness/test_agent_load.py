"""Load: 50 valid clients and 20 hostile ones at once against one loopback agent.

Every valid client gets the right answer, every hostile one is refused with the right error, and the agent's
memory stays bounded: its peak RSS (VmRSS sampled every 20 ms, and VmHWM) may grow at most RSS_BOUND_MIB = 64 MiB
over the RSS it had after serving one client. Measured on x86-64 (Python 3.11, ONNX Runtime): baseline 67 MiB,
peak 74 MiB (+7 MiB), 28 threads at most. The 150 MiB messages that hostile clients announce are never read (a
protocol-1 agent read them whole: 119 -> 545 MiB RSS for one such message).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from edgecnn.runtime import protocol as P

from .conftest import (
    TOKEN,
    announce,
    check_valid_client,
    connect,
    reply_or_closed,
    rss_kib,
    start_agent,
    stop_agent,
)

VALID = 50
N_HOSTILE = 20  # the six kinds below, round robin
RSS_BOUND_MIB = 64
HELLO_TIMEOUT_S = 3.0


def _kind(reply: dict | None) -> str | None:
    return None if reply is None else reply.get("error", {}).get("kind")


def huge_prefix(url: str) -> str | None:
    sock = connect(url, token=None, timeout=30)
    try:
        sock.sendall(P.HEADER.pack(150 * 2**20))
        try:
            for _ in range(8):  # push 8 MiB of the announced 150 MiB: the agent does not read it
                sock.sendall(b"\0" * 2**20)
        except OSError:
            pass
        return _kind(reply_or_closed(sock))
    finally:
        sock.close()


def garbage(url: str) -> str | None:
    sock = connect(url, token=None, timeout=30)
    try:
        body = os.urandom(200)
        sock.sendall(P.HEADER.pack(len(body)) + body)
        return _kind(reply_or_closed(sock))
    finally:
        sock.close()


def slowloris(url: str) -> str | None:
    sock = connect(url, token=None, timeout=30)
    try:
        sock.sendall(P.HEADER.pack(100))  # a header, then nothing: the hello deadline ends it
        return _kind(reply_or_closed(sock))
    finally:
        sock.close()


def wrong_hmac(url: str) -> str | None:
    sock = connect(url, token=None, timeout=30)
    try:
        P.send_message(sock, {"type": "hello"})
        challenge = P.recv_message(sock)["challenge"]
        P.send_message(sock, {"type": "auth", "hmac": P.auth_digest(TOKEN + "x", challenge)})
        return _kind(reply_or_closed(sock))
    finally:
        sock.close()


def oversized_upload(url: str) -> str | None:
    sock = connect(url, timeout=30)
    try:
        data = b"\0" * (2 * 2**20)  # the agent's cap is 1 MiB
        P.send_message(sock, {"type": "load", "files": announce([("big.onnx", data)])})
        try:
            sock.sendall(data)
        except OSError:
            pass
        return _kind(reply_or_closed(sock))
    finally:
        sock.close()


def nul_name(url: str) -> str | None:
    sock = connect(url, timeout=30)
    try:
        P.send_message(sock, {"type": "load", "files": [{"name": "a\0.onnx", "size": 4, "sha256": "0" * 64}]})
        return _kind(reply_or_closed(sock))
    finally:
        sock.close()


HOSTILE = {
    huge_prefix: "too_large",
    garbage: "malformed",
    slowloris: "auth",
    wrong_hmac: "auth",
    oversized_upload: "too_large",
    nul_name: "malformed",
}


def test_fifty_valid_and_twenty_hostile_clients_at_once(tmp_path, tiny_model):
    proc, url = start_agent(
        tmp_path,
        "--max-connections",
        "100",
        "--hello-timeout",
        str(HELLO_TIMEOUT_S),
        "--max-upload-mb",
        "1",
        "--idle-timeout",
        "60",
    )
    try:
        check_valid_client(url, tiny_model)  # warm: onnxruntime imported, one session made and freed
        baseline = rss_kib(proc.pid)
        peak = [baseline]
        threads_peak = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(proc.pid))
                threads_peak[0] = max(threads_peak[0], rss_kib(proc.pid, "Threads"))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        hostile = [list(HOSTILE)[i % len(HOSTILE)] for i in range(N_HOSTILE)]
        start = threading.Barrier(VALID + len(hostile))

        def valid(i: int) -> None:
            start.wait()
            check_valid_client(url, tiny_model, seed=i)

        def bad(f):
            start.wait()
            return f(url)

        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=VALID + len(hostile)) as pool:
            valid_futures = [pool.submit(valid, i) for i in range(VALID)]
            hostile_futures = [(f, pool.submit(bad, f)) for f in hostile]
            for fut in valid_futures:
                fut.result(timeout=120)  # raises if a valid client failed or got a wrong answer
            kinds = [(f.__name__, fut.result(timeout=120)) for f, fut in hostile_futures]
        elapsed = time.monotonic() - t0
        stop.set()
        sampler.join()
        hwm = rss_kib(proc.pid, "VmHWM")
        for name, kind in kinds:
            assert kind == HOSTILE[globals()[name]], (name, kind)
        grown_mib = (max(peak[0], hwm) - baseline) / 1024
        print(
            f"\nagent RSS: baseline {baseline / 1024:.0f} MiB, peak {max(peak[0], hwm) / 1024:.0f} MiB "
            f"(+{grown_mib:.0f} MiB), threads peak {threads_peak[0]}, {elapsed:.1f} s"
        )
        assert grown_mib < RSS_BOUND_MIB, f"agent RSS grew {grown_mib:.0f} MiB under load (bound {RSS_BOUND_MIB})"
        assert threads_peak[0] <= 100 + 10
        check_valid_client(url, tiny_model)  # and it still serves
        assert not list(tmp_path.glob("edgecnn-agent-*")) or _wait_clean(tmp_path)
    finally:
        err = stop_agent(proc)
    assert "Traceback" not in err, err[-3000:]


def _wait_clean(tmp_path) -> bool:
    deadline = time.monotonic() + 10
    while list(tmp_path.glob("edgecnn-agent-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not list(tmp_path.glob("edgecnn-agent-*"))
