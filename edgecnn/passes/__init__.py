"""passes"""

from edgecnn.passes.base import PASSES

PASSES.add("fold_bn", "edgecnn.passes.fold_bn:FoldBN")
PASSES.add("dw_separable", "edgecnn.passes.dw_separable:DepthwiseSeparable")
PASSES.add("distill", "edgecnn.passes.distill:Distill")
PASSES.add("prune", "edgecnn.passes.prune:Prune")
PASSES.add("sparsify", "edgecnn.passes.sparsify:Sparsify")
