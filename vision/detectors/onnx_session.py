"""ONNX Runtime sessions: options, opening with clear errors, input/output checks, warm-up."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from carbonedge.runtime.base.errors import ModelError

logger = logging.getLogger(__name__)

_OPT_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


class SessionConfig(BaseModel):
    """ONNX Runtime session options (CPU)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intra_op_threads: int = Field(0, ge=0, le=256, description="0: onnxruntime picks (all cores)")
    inter_op_threads: int = Field(
        1,
        ge=0,
        le=64,
        description="ONNX Runtime threads across operators (0: its default)",
    )
    graph_optimization: Literal["disable", "basic", "extended", "all"] = Field(
        "all",
        description="ONNX Runtime graph optimisation level",
    )
    providers: tuple[str, ...] = Field(
        ("CPUExecutionProvider",),
        description="ONNX Runtime execution providers, in order of preference",
    )
    allow_spinning: bool = Field(
        True,
        description=(
            "intra-op threads busy-wait for work (onnxruntime's session.intra_op.allow_spinning): "
            "faster on a quiet box, 1.6-2x slower when another process competes for the cores"
        ),
    )


def open_session(path: Path, config: SessionConfig):  # -> onnxruntime.InferenceSession
    """Open ``path`` with ``config``; any failure becomes a ``ModelError`` naming the file."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    options.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel, _OPT_LEVELS[config.graph_optimization]
    )
    options.log_severity_level = 3
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if config.allow_spinning else "0"
    )
    available = ort.get_available_providers()
    providers = [p for p in config.providers if p in available]
    missing = [p for p in config.providers if p not in available]
    if missing:
        logger.warning(
            "%s: execution providers %s are not available here (available: %s); using %s",
            path.name, missing, available, providers or ["CPUExecutionProvider"],
        )  # fmt: skip
    providers = providers or ["CPUExecutionProvider"]
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{path}: not a loadable ONNX model ({first[:200]}); check the file is complete "
            "(compare its SHA-256) or re-export it"
        ) from None


def input_hw(session, path: Path, fallback_hw: tuple[int, int] | None = None) -> tuple[int, int]:
    """(height, width) of the model's single image input [1, 3, H, W].

    Dynamic dims need ``fallback_hw``.
    """
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"{path}: expected one image input, the model has {len(inputs)}")
    shape = inputs[0].shape
    if len(shape) != 4 or shape[1] not in (3, "3"):
        raise ModelError(f"{path}: expected an image input of shape [1, 3, H, W], got {shape}")
    if inputs[0].type != "tensor(float)":
        raise ModelError(
            f"{path}: expected a float32 image input, the model wants {inputs[0].type} "
            "(re-export without half precision)"
        )
    h, w = shape[2], shape[3]
    if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
        return h, w
    if fallback_hw is None:
        raise ModelError(f"{path}: the input size is dynamic ({shape}); set input_hw in the config")
    return fallback_hw


def warmup(session, hw: tuple[int, int], path: Path) -> None:
    """One dummy inference so the first real frame does not pay for allocation and kernel choice."""
    name = session.get_inputs()[0].name
    try:
        session.run(None, {name: np.zeros((1, 3, hw[0], hw[1]), np.float32)})
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ModelError(
            f"{path}: the first (warm-up) inference failed ({type(exc).__name__}: "
            f"{str(exc).strip()[:200]})"
        ) from None
