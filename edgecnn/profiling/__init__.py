"""Latency profiling: one timing protocol, statistics, memory, roofline, side by side with the float baseline.

The public entry point is `edgecnn.profile(...)` (`profiling.api.profile`).
"""
