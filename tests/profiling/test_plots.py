from __future__ import annotations

import base64

import numpy as np
import pytest

from edgecnn.errors import InvalidInputError
from edgecnn.profiling.plots import latency_plot_data_uri, latency_plot_png, profile_plot_data_uri
from edgecnn.profiling.stats import LatencyStats


def test_plots_are_png_and_data_uris():
    rng = np.random.default_rng(0)
    base, opt = LatencyStats(list(rng.gamma(9, 1.0, 300))), LatencyStats(list(rng.gamma(9, 0.5, 300)))
    png = latency_plot_png({"baseline": base, "optimized": opt}, title="lenet5")
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    uri = latency_plot_data_uri({"baseline": base.times_ms, "optimized": opt.to_dict()})
    assert uri.startswith("data:image/png;base64,") and base64.b64decode(uri.split(",", 1)[1]).startswith(b"\x89PNG")
    assert profile_plot_data_uri({"baseline": base.to_dict(), "optimized": opt.to_dict()}).startswith("data:image/png")
    assert profile_plot_data_uri({"baseline": None, "optimized": opt.to_dict(include_times=False)}) is None
    with pytest.raises(InvalidInputError, match="empty"):
        latency_plot_png({"a": []})
