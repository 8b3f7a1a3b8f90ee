"""Running edgecnn work in parallel without corrupting its timings: the hold a latency measurement takes
(`holds`, no Ray needed) and the Ray task layer that sweeps and searches submit their work through (`ray_tasks`).
"""
