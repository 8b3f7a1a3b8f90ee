"""The aarch64 userland under QEMU user mode (built once by scripts/setup_arm_emulation.sh) and an agent in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOKEN = "arm-emulation-token"
QEMU_CPU = os.environ.get("EDGECNN_QEMU_CPU", "neoverse-n1")
SKIP_EXIT = 3  # the setup script's "QEMU cannot be installed here"


@pytest.fixture(scope="session")
def arm_root() -> Path:
    """Build (or reuse the cached) aarch64 Python 3.11 + numpy + onnxruntime; skip only when QEMU cannot be
    installed."""
    env = {**os.environ, "PYTHON": sys.executable, "EDGECNN_QEMU_CPU": QEMU_CPU}
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "setup_arm_emulation.sh")], env=env, capture_output=True, text=True, timeout=900
    )
    if proc.returncode == SKIP_EXIT:
        pytest.skip(f"QEMU user-mode emulation cannot be installed here: {proc.stderr.strip().splitlines()[-1]}")
    if proc.returncode != 0:
        pytest.fail(f"scripts/setup_arm_emulation.sh failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    root = Path(proc.stdout.strip().splitlines()[-1]) / f"root-{QEMU_CPU}"
    assert (root / "usr" / "bin" / "python3.11").exists()
    return root


@pytest.fixture(scope="session")
def arm_agent(arm_root, tmp_path_factory):
    """tcp:// url of an agent running as aarch64 code under qemu-aarch64-static, torch import blocked."""
    qemu = shutil.which("qemu-aarch64-static")
    assert qemu, "the setup script installs qemu-user-static"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(
        {
            "QEMU_CPU": QEMU_CPU,
            "PYTHONPATH": f"{arm_root / 'site'}:{REPO}",
            "PYTHONNOUSERSITE": "1",
            "TMPDIR": str(tmp_path_factory.mktemp("arm_agent_tmp")),
            "OMP_NUM_THREADS": "1",
        }
    )
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None; "
        "from edgecnn.agent.__main__ import main; sys.exit(main())"
    )
    argv = [
        qemu,
        "-L",
        str(arm_root),
        str(arm_root / "usr" / "bin" / "python3.11"),
        "-s",
        "-c",
        code,
        "serve",
        "--port",
        "0",
        "--token",
        TOKEN,
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO))
    line = proc.stdout.readline()
    if "listening on tcp://" not in line:
        proc.kill()
        pytest.fail(f"the emulated agent did not start: {line!r}\n{proc.stderr.read()[-4000:]}")
    yield line.split()[-1]
    proc.terminate()
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
