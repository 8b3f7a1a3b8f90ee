"""Accuracy on labelled data and evaluation datasets. The public entry point is `edgecnn.evaluate(...)` (`api`)."""
