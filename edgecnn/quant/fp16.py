"""fp16: convert an fp32 ONNX model's weights and compute to float16 with ONNX Runtime's converter.

onnxconverter-common is not a dependency; onnxruntime ships the same converter as
`onnxruntime.transformers.float16`, so it is used from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgecnn.errors import InvalidInputError
from edgecnn.onnx_graph import sort_topologically


def convert_fp16(
    fp32_path: str | Path, out_path: str | Path, *, keep_io_types: bool = True, op_block_list: list[str] | None = None
) -> dict[str, Any]:
    """Write an fp16 version of `fp32_path` to `out_path`; inputs/outputs stay fp32 when keep_io_types.

    op_block_list: op types left in fp32 (default: the converter's list of ops without fp16 kernels).
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(fp32_path))
    try:
        converted = convert_float_to_float16(model, keep_io_types=keep_io_types, op_block_list=op_block_list)
    except (ValueError, AssertionError) as exc:  # the converter validates with asserts
        raise InvalidInputError(f"cannot convert {fp32_path} to fp16: {exc}") from None
    try:
        converted = sort_topologically(converted)  # the converter appends its IO Casts at the end of the node list
        onnx.checker.check_model(converted)
    except (ValueError, onnx.checker.ValidationError) as exc:  # a cycle, or an input nothing produces
        raise InvalidInputError(f"the fp16 graph of {fp32_path} is invalid: {str(exc).splitlines()[0]}") from None
    onnx.save(converted, str(out_path))
    fp16_inits = sum(t.data_type == onnx.TensorProto.FLOAT16 for t in converted.graph.initializer)
    return {
        "keep_io_types": keep_io_types,
        "fp16_initializers": fp16_inits,
        "casts": sum(n.op_type == "Cast" for n in converted.graph.node),
    }
