"""The HTML report renders in a real browser (headless Chromium) with its plots."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from edgecnn.report.build import new_report, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _report() -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    report = new_report(
        model={"name": "tiny", "weights": "file", "source": "zoo:tiny"},
        recipe={"model": {"name": "tiny"}},
        target="onnxruntime",
        environment={"cpu": "test", "cores": 2, "versions": {}},
    )
    for role, scale in (("baseline", 4.0), ("optimized", 2.0)):
        times = list(scale + rng.gamma(2.0, 0.1, 200))
        report[role] = {
            "latency_ms": {
                "p50": float(np.median(times)),
                "p90": float(np.percentile(times, 90)),
                "p95": 0,
                "p99": 0,
                "mean": float(np.mean(times)),
                "std": 0,
                "min": 0,
                "max": 0,
            },
            "throughput": 1000 / float(np.median(times)),
            "times_ms": times,
            "backend": "onnxruntime",
            "precision": "fp32" if role == "baseline" else "int8",
            "size_bytes": 4_000_000 if role == "baseline" else 1_000_000,
            "macs": 300_000_000,
            "accuracy": {"top1": 91.0 if role == "baseline" else 90.6},
        }
    report["speedup"] = report["baseline"]["latency_ms"]["p50"] / report["optimized"]["latency_ms"]["p50"]
    report["steps"] = [
        {
            "type": "quantize",
            "config": {},
            "seconds": 1.0,
            "report": {"sensitivity": [{"layer": f"conv{i}", "sqnr_db": 20.0 + i} for i in range(8)]},
        }
    ]
    report["variants"] = [
        {"name": "fp32", "size_bytes": 4e6, "p50_ms": 4.1, "accuracy": 91.0},
        {"name": "int8", "size_bytes": 1e6, "p50_ms": 2.1, "accuracy": 90.6},
    ]
    report["gates"] = [{"name": "max_accuracy_drop", "threshold": 1.0, "value": 0.4, "passed": True, "reason": None}]
    return report


def test_html_is_self_contained_with_three_plots(tmp_path):
    paths = write_report(_report(), tmp_path)
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") == 3  # latency, sensitivity, variants
    assert "http://" not in html and "https://" not in html.replace("https://edgecnn.dev", "")
    assert "speed-up" in html


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_html_renders_in_headless_chromium(tmp_path):
    paths = write_report(_report(), tmp_path)
    shot = tmp_path / "report.png"
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            paths["html"].as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "float baseline" in dom.stdout and dom.stdout.count("<img") == 3
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile2'}",
            f"--screenshot={shot}",
            "--window-size=1100,1600",
            paths["html"].as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists() and shot.stat().st_size > 20_000  # a blank page compresses to a few KB


def test_technique_table_and_agreement_plot(tmp_path):
    report = _report()
    cands = [
        {"name": "minmax", "top1_agreement": 0.79, "sqnr_db": 13.2, "latency_ratio": 0.45, "chosen": False},
        {
            "name": "float6+bias_correction",
            "top1_agreement": 0.93,
            "sqnr_db": 25.7,
            "latency_ratio": 0.47,
            "chosen": True,
        },
    ]
    report["steps"][0]["report"]["search"] = {
        "skipped": None,
        "split": "by source photo",
        "held_out_samples": 29,
        "calibration_samples": 67,
        "chosen": "float6+bias_correction",
        "seconds": 12.0,
        "candidates": [{**c, "measured": "held-out", "note": "", "eval_top1": None} for c in cands]
        + [{"name": "equalize", "measured": "quick", "note": "skipped: no pairs", "chosen": False}],
    }
    report["variants"] += [{**c, "size_bytes": 1e6, "p50_ms": 2.0, "accuracy": None} for c in cands]
    paths = write_report(report, tmp_path)
    md, html = paths["md"].read_text(), paths["html"].read_text()
    assert "## Quantization techniques" in md and "| float6+bias_correction | 0.930 | 25.7 |  | 0.47 | **yes** |" in md
    assert "Quantization techniques" in html and "skipped: no pairs" in html
    assert html.count("data:image/png;base64,") == 4  # + agreement vs latency
