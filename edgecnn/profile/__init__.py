"""Latency profiling: one timing protocol, statistics, memory, roofline, side by side with the float baseline.

`edgecnn.profile(artifact, ...)` calls `edgecnn.profile.api.profile`; the submodules (timing, stats,
environment, memory, roofline, plots) stay importable as `edgecnn.profile.<name>`.
"""

from edgecnn._callable import callable_module

callable_module(__name__, "edgecnn.profile.api:profile")
