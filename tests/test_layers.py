"""The layer contract (pyproject.toml, [tool.importlinter]) holds: no module imports a layer above its own."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    shutil.which("lint-imports") is None, reason="import-linter is not installed (pip install -e .[dev])"
)
def test_layers_import_one_way():
    result = subprocess.run(
        [shutil.which("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_no_module_below_the_cli_imports_it():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "edgecnn").rglob("*.py")
        if "cli" not in path.relative_to(ROOT / "edgecnn").parts[:1]
        and any(s in path.read_text() for s in ("edgecnn.cli", "from edgecnn import cli"))
    ]
    assert not offenders, offenders
