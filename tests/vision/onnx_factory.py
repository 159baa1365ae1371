"""ONNX models the project builds itself.

They test the detector backends without third-party weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CELL_PX = 32


def colour_grid_v8(
    path: Path, size_px: int = 320, names=("red", "green", "blue"), *, fp16_input: bool = False
) -> Path:
    """An Ultralytics-layout model: output0 [1, 4+3, cells] where class k's score at each 32x32 grid
    cell is the cell's mean of input channel k (RGB/255), and the box is the cell itself.

    A saturated red square covering one cell in the input therefore yields exactly one "red" box
    there, which tests the RGB order, letterbox mapping and decoding end to end. ``fp16_input``
    makes the input float16 (as a ``half=True`` export), which the backends must reject clearly.
    """
    g = size_px // CELL_PX
    ys, xs = np.mgrid[0:g, 0:g]
    cx = ((xs + 0.5) * CELL_PX).reshape(-1)
    cy = ((ys + 0.5) * CELL_PX).reshape(-1)
    wh = np.full(g * g, CELL_PX, np.float32)
    boxes = np.stack([cx, cy, wh, wh]).astype(np.float32)[None]  # [1, 4, cells]
    pool_input = "images_f32" if fp16_input else "images"
    nodes = [helper.make_node("Cast", ["images"], [pool_input], to=TensorProto.FLOAT)] * fp16_input
    nodes += [
        helper.make_node(
            "AveragePool",
            [pool_input],
            ["pooled"],
            kernel_shape=[CELL_PX, CELL_PX],
            strides=[CELL_PX, CELL_PX],
        ),
        helper.make_node("Reshape", ["pooled", "shape"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1),
    ]
    input_type = TensorProto.FLOAT16 if fp16_input else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "colour_grid",
        [helper.make_tensor_value_info("images", input_type, [1, 3, size_px, size_px])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + len(names), g * g])],
        initializer=[
            numpy_helper.from_array(boxes, "boxes"),
            numpy_helper.from_array(np.array([1, 3, g * g], np.int64), "shape"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    names_text = "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(names)) + "}"
    helper.set_model_props(model, {"names": names_text, "stride": "32", "task": "detect"})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
