"""Accuracy and fidelity metrics, evaluation data. The public entry point is `edgecnn.evaluate(...)` (`evaluation.api`)."""
