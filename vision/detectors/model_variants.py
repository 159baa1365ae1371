"""Model variants at another fixed input size, made by rewriting the ONNX graph and cached.

A YOLO-family export is fully convolutional: its Reshape nodes use ``-1`` for the anchor axis and
its Resize nodes use scales, so the same weights run at any input size divisible by the largest
stride. Only the declared input/output shapes name the export size (416x416 -> 3549 anchors).
``resized_model`` rewrites those, refuses graphs with shape-specific constants (a constant anchor
grid of 8400 rows, a Reshape to a fixed anchor count), checks the result in onnxruntime and caches
it under ``$XDG_CACHE_HOME/carbonedge/variants`` keyed by the source's SHA-256 and the new size.
Variants never go next to the source model (it may sit on a read-only share) nor into the
repository.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from carbonedge.runtime.base.errors import ModelError
from carbonedge.vision.detectors.model_files import sha256_of

logger = logging.getLogger(__name__)

VARIANTS_DIR_NAME = "variants"


def variants_dir() -> Path:
    """``$XDG_CACHE_HOME/carbonedge/variants`` (default ``~/.cache/carbonedge/variants``).

    A sibling of the model search folder, so that variants never show up as models by name.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "carbonedge" / VARIANTS_DIR_NAME


def import_onnx():  # -> the onnx module
    """The ``onnx`` package, or a ``ModelError`` that says how to install it."""
    try:
        import onnx
    except ImportError:
        raise ModelError(
            "rewriting or quantizing a model needs the onnx package: "
            "pip install onnx (a carbonedge dependency)"
        ) from None
    return onnx


def variant_path(source: Path, tag: str, digest: str | None = None) -> Path:
    """Cache path of a variant of ``source``: ``<stem>-<sha256[:16]>-<tag>.onnx``."""
    digest = digest or sha256_of(source)
    return variants_dir() / f"{source.stem}-{digest[:16]}-{tag}.onnx"


def grid_counts(input_hw: tuple[int, int], strides: tuple[int, ...]) -> set[int]:
    """Sizes that only a graph built for ``input_hw`` would hard-code: grid sides, cells per
    stride and the anchor total."""
    h, w = input_hw
    counts = {sum((h // s) * (w // s) for s in strides)}
    for s in strides:
        counts.update({(h // s) * (w // s)})
    return {c for c in counts if c > 1}


def resize_graph(model, input_hw: tuple[int, int], strides: tuple[int, ...] = (8, 16, 32)):
    """Copy of ``model`` (an ``onnx.ModelProto``) with its image input fixed to ``input_hw``.

    Output shapes become symbolic (onnxruntime infers them). Raises ``ModelError`` when the graph
    holds a constant tied to the export size: a Reshape/Expand/Tile target or an initializer
    whose size is the export's anchor count or cells per stride.
    """
    onnx = import_onnx()
    from onnx import numpy_helper

    new_h, new_w = input_hw
    multiple = min(max(strides), 32)  # a stride-64 level of a padded conv net rounds up
    if new_h % multiple or new_w % multiple:
        raise ModelError(f"input size {new_h}x{new_w} (h x w) must be a multiple of {multiple} px")
    model = onnx.ModelProto.FromString(model.SerializeToString())  # deep copy
    graph = model.graph
    inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    if len(inputs) != 1:
        raise ModelError(f"expected one image input, the model has {len(inputs)}")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ModelError(f"expected an image input [1, 3, H, W], got {len(dims)} dims")
    old_hw = (dims[2].dim_value, dims[3].dim_value)
    if min(old_hw) > 0:
        _retarget_grid_reshapes(graph, old_hw, input_hw, strides, numpy_helper)
        _refuse_size_constants(graph, grid_counts(old_hw, strides), numpy_helper)
    dims[2].Clear()
    dims[2].dim_value = new_h
    dims[3].Clear()
    dims[3].dim_value = new_w
    for out in graph.output:
        for k, dim in enumerate(out.type.tensor_type.shape.dim):
            if k > 0:  # keep the batch dim; the rest depends on the input size
                dim.Clear()
                dim.dim_param = f"{out.name}_d{k}"
    del graph.value_info[:]  # stale intermediate shapes would contradict the new input
    return model


def _retarget_grid_reshapes(graph, old_hw, new_hw, strides, numpy_helper) -> None:
    """Point every Reshape whose constant target ends in one level's grid (rows, cols at the
    export size: a channel shuffle, [1, 2, C, 52, 52] in PicoDet) at that level's grid for
    ``new_hw``. Each such target gets its own new initializer (constants may be shared)."""
    grids = {
        (-(-old_hw[0] // s), -(-old_hw[1] // s)): (-(-new_hw[0] // s), -(-new_hw[1] // s))
        for s in strides
    }
    consts = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = attr.t
    for k, node in enumerate(graph.node):
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[1] not in consts:
            continue
        values = numpy_helper.to_array(consts[node.input[1]]).reshape(-1).astype(np.int64)
        if len(values) < 4 or tuple(values[-2:].tolist()) not in grids:
            continue
        values[-2:] = grids[tuple(values[-2:].tolist())]
        name = f"{node.input[1]}__grid_{new_hw[0]}x{new_hw[1]}_{k}"
        graph.initializer.append(numpy_helper.from_array(values, name))
        node.input[1] = name


def _refuse_size_constants(graph, counts: set[int], numpy_helper) -> None:
    """``ModelError`` naming the first constant that hard-codes one of ``counts``."""
    consts = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = attr.t
    for node in graph.node:
        if node.op_type in ("Reshape", "Expand", "Tile") and len(node.input) > 1:
            target = consts.get(node.input[1])
            if target is None:
                continue
            values = numpy_helper.to_array(target).reshape(-1).tolist()
            if counts.intersection(values):
                raise ModelError(
                    f"node {node.name or node.op_type} reshapes to a fixed {values} that is tied "
                    "to the export's input size; re-export the model at the size you want"
                )
    for name, tensor in consts.items():
        if any(d in counts for d in tensor.dims) and np.prod(tensor.dims) > 1:
            raise ModelError(
                f"constant {name!r} of shape {list(tensor.dims)} is tied to the export's input "
                "size (an anchor grid?); re-export the model at the size you want"
            )


def resized_model(
    source: Path, input_hw: tuple[int, int], strides: tuple[int, ...] = (8, 16, 32)
) -> Path:
    """Path of ``source`` rewritten to a fixed ``input_hw`` (h, w) px input, made once and cached.

    The cached file is checked with one onnxruntime inference before it is used: a failure is a
    ``ModelError`` naming the source and the size.
    """
    onnx = import_onnx()
    digest = sha256_of(source)
    target = variant_path(source, f"{input_hw[0]}x{input_hw[1]}", digest)
    if target.is_file():
        return target
    try:
        model = onnx.load(str(source))
    except Exception as exc:  # noqa: BLE001 - onnx raises DecodeError and friends
        raise ModelError(f"{source}: not a loadable ONNX model ({exc})") from None
    try:
        resized = resize_graph(model, input_hw, strides)
    except ModelError as exc:
        raise ModelError(f"{source}: cannot run at {input_hw[0]}x{input_hw[1]}: {exc}") from None
    save_atomically(resized, target)
    check_runs(target, input_hw, source)
    logger.info("wrote %s (%s at %dx%d)", target, source.name, *input_hw)
    return target


def save_atomically(model, target: Path) -> None:
    """Write ``model`` to ``target`` through a temporary file, so a crash leaves no half file."""
    import onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ModelError(f"{target}: cannot write the model variant ({exc.strerror})") from None


def check_runs(path: Path, input_hw: tuple[int, int], source: Path) -> None:
    """One inference on zeros; on failure the variant is removed and ``ModelError`` raised."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        session.run(None, {name: np.zeros((1, 3, *input_hw), np.float32)})
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        path.unlink(missing_ok=True)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(
            f"{source}: the model rewritten to {input_hw[0]}x{input_hw[1]} does not run "
            f"({first[:200]}); re-export it at that size"
        ) from None
