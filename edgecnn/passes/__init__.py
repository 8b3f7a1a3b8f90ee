"""passes"""

from edgecnn.passes.base import PASSES

PASSES.add("prune", "edgecnn.passes.prune:Prune")
PASSES.add("sparsify", "edgecnn.passes.sparsify:Sparsify")
