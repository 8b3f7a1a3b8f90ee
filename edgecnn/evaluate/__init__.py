"""evaluate: accuracy and fidelity metrics, evaluation data. `edgecnn.evaluate(...)` calls `evaluate.api.evaluate`."""

from edgecnn._callable import callable_module

callable_module(__name__, "edgecnn.evaluate.api:evaluate")
