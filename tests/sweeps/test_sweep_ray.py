"""Sweeps on a multi-node Ray cluster started on this machine (ray.cluster_utils.Cluster): every cell runs as a
task, parallel builds never overlap two timings on one node, a worker killed mid-cell is retried once."""

import json
import os
import signal
import threading
import time
from collections import defaultdict

import pytest

from edgecnn.sweeps.api import LEDGER_PREFIX, sweep

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """A head that runs no tasks and two worker nodes of 2 CPUs, each declaring its timing resource."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for name in ("node-a", "node-b"):
        c.add_node(num_cpus=2, resources={f"timing:{name}": 1})
    ray.init(address=c.address, logging_level="WARNING", log_to_driver=False)
    yield c
    ray.shutdown()
    c.shutdown()


def _overlaps(rows):
    by_resource = defaultdict(list)
    for row in rows:
        for t in row["timings"]:
            by_resource[t["resource"]].append((t["start"], t["end"], row["id"]))
    bad = []
    for resource, spans in by_resource.items():
        spans.sort()
        bad += [(resource, a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1]]
    return by_resource, bad


def test_a_sweep_on_two_nodes_completes_every_cell_and_never_overlaps_timings(cluster, tmp_path, write_sweep):
    path = write_sweep(tmp_path, models=["lenet5", "smallcnn"], targets=["onnxruntime", "openvino"])
    result = sweep(path, address=cluster.address, out_dir=tmp_path / "out")
    rows = result.rows
    assert len(rows) == 8 and len({r["id"] for r in rows}) == 8 and not result.failed, result.failed
    assert {(r["model"], r["recipe"], r["target"]) for r in rows} == {
        (m, rec, t) for m in ("lenet5", "smallcnn") for rec in ("fp32", "int8") for t in ("onnxruntime", "openvino")
    }
    assert all(r["optimized_p50_ms"] > 0 and r["baseline_p50_ms"] > 0 and r["attempts"] == 1 for r in rows)
    by_resource, bad = _overlaps(rows)
    assert not bad, bad
    assert set(by_resource) <= {"timing:node-a", "timing:node-b"} and len(by_resource) == 2  # both nodes worked
    cells = [json.loads((tmp_path / "out" / "cells" / r["id"] / "result.json").read_text()) for r in rows]
    spans = sorted((c["started"], c["finished"]) for c in cells)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:]))  # cells did run in parallel: the holds mattered
    board = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [r["id"] for r in board["rows"]] == [r["id"] for r in rows]
    assert (tmp_path / "out" / "report.html").read_text().count("<img") == 2  # a plot per target


def test_a_worker_killed_mid_cell_is_retried_once_without_a_duplicate(cluster, tmp_path, write_sweep):
    path = write_sweep(tmp_path, models=["lenet5"], recipes=["fp32", "int8"])
    killed = {}

    def kill_first_started_cell():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            names = [n for n in ray.util.list_named_actors() if n.startswith(LEDGER_PREFIX)]
            if names:
                ledger = ray.get_actor(names[0])
                for key in ("lenet5--fp32--onnxruntime", "lenet5--int8--onnxruntime"):
                    attempts = ray.get(ledger.get.remote(key))
                    if attempts:
                        time.sleep(1.0)  # mid-cell: past the start, well before a cell's end
                        os.kill(attempts[0]["pid"], signal.SIGKILL)
                        killed[key] = attempts[0]["pid"]
                        return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_first_started_cell)
    killer.start()
    result = sweep(path, address=cluster.address, out_dir=tmp_path / "out")
    killer.join()
    assert killed, "no cell was seen starting"
    (key,) = killed
    rows = {r["id"]: r for r in result.rows}
    assert len(result.rows) == 2 and set(rows) == {"lenet5--fp32--onnxruntime", "lenet5--int8--onnxruntime"}
    assert not result.failed, result.failed
    assert rows[key]["attempts"] == 2  # retried once, by Ray
    assert [r["attempts"] for k, r in rows.items() if k != key] == [1]
    assert sorted(p.name for p in (tmp_path / "out" / "cells").iterdir()) == sorted(rows)  # one folder per cell
