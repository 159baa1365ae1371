"""How far the model is from what the CPU can do: FLOPs per frame and the CPU's peak FLOP/s.

FLOPs are counted from the ONNX graph after onnx shape inference, for the layers that do the
arithmetic: ``Conv`` (dense, grouped and depthwise) and ``ConvTranspose``, ``Gemm`` and ``MatMul``.
One multiply-add counts as 2 FLOPs; bias adds, activations, pooling, resizes and concatenations
are left out (on YOLOX-nano they are well under 5 % of the multiply-adds). A quantized (QDQ)
graph has the same Conv nodes, so the FP32 count also stands for its INT8 operations.

Peak (stated assumption, from /proc/cpuinfo):
``peak_flops = cores x clock_hz x fma_pipes x fp32_lanes x 2``, with 2 FMA pipes per core, 16
FP32 lanes for AVX-512 (8 on AMD family 25, Zen 4, which runs 512-bit ops as two 256-bit
halves), 8 for AVX2+FMA, 4 for SSE only; ``clock_hz`` is ``cpu MHz`` (under a hypervisor this is
the nominal clock; turbo would raise the peak). INT8 peak: 4 x the FP32 peak with VNNI
(``avx512_vnni``/``avx_vnni``: one instruction does 4 int8 multiply-adds per 32-bit lane),
2 x without.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def _dims(value_info) -> list[int] | None:
    dims = [
        d.dim_value if d.HasField("dim_value") else 0 for d in value_info.type.tensor_type.shape.dim
    ]
    return dims if dims and all(d > 0 for d in dims) else None


def count_flops(model) -> dict[str, int]:
    """FLOPs of one inference by op type (``{"Conv": ..., "MatMul": ..., "total": ...}``).

    ``model`` is an ``onnx.ModelProto`` or a path; every input must have a fixed shape.
    ``ValueError`` names the first counted node whose shapes cannot be inferred.
    """
    import onnx

    if isinstance(model, (str, Path)):
        model = onnx.load(str(model))
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    shapes: dict[str, list[int] | None] = {}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        shapes[vi.name] = _dims(vi)
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
    flops: dict[str, int] = {}
    for node in graph.node:
        n = _node_flops(node, shapes)
        if n:
            flops[node.op_type] = flops.get(node.op_type, 0) + n
    flops["total"] = sum(flops.values())
    return flops


def _node_flops(node, shapes: dict[str, list[int] | None]) -> int:
    op = node.op_type
    if op not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
        return 0
    ins = [shapes.get(name) for name in node.input[:2]]
    out = shapes.get(node.output[0])
    if out is None or any(s is None for s in ins):
        raise ValueError(f"node {node.name or op}: shapes unknown after onnx shape inference")
    if op in ("Conv", "ConvTranspose"):
        weight = ins[1]  # Conv: (Cout, Cin/g, kh, kw); ConvTranspose: (Cin, Cout/g, kh, kw)
        per_output = int(np.prod(weight[1:]))  # multiply-adds per output element
        if op == "ConvTranspose":  # each input element is spread over the kernel
            return 2 * int(np.prod(ins[0])) * per_output
        return 2 * int(np.prod(out)) * per_output
    if op == "Gemm":
        trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0)
        k = ins[0][0] if trans_a else ins[0][1]
        return 2 * int(np.prod(out)) * int(k)
    return 2 * int(np.prod(out)) * int(ins[0][-1])  # MatMul: K is A's last dim


@dataclass(frozen=True)
class CpuPeak:
    """The CPU's theoretical peak and how it was estimated."""

    cores: int
    clock_ghz: float
    fp32_lanes: int
    fma_pipes: int
    int8_factor: int
    formula: str

    @property
    def fp32_gflops(self) -> float:
        return self.cores * self.clock_ghz * self.fma_pipes * self.fp32_lanes * 2

    @property
    def int8_gops(self) -> float:
        return self.fp32_gflops * self.int8_factor


def cpu_peak(cores: int | None = None, cpuinfo: str | None = None) -> CpuPeak:
    """Peak FP32 GFLOP/s (and INT8 GOP/s) of ``cores`` cores (default: those this process may
    use) from ``/proc/cpuinfo`` (or the given text); see the module docstring for the formula."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    amd_zen4 = fields.get("vendor_id") == "AuthenticAMD" and fields.get("cpu family") == "25"
    if "avx512f" in flags:
        lanes = 8 if amd_zen4 else 16
    elif "avx2" in flags and "fma" in flags:
        lanes = 8
    else:
        lanes = 4
    int8 = 4 if flags & {"avx512_vnni", "avx_vnni"} else 2
    clock_ghz = float(fields.get("cpu MHz", "0") or 0) / 1e3
    cores = cores or len(os.sched_getaffinity(0))
    formula = (
        f"{cores} cores x {clock_ghz:.2f} GHz x 2 FMA pipes x {lanes} FP32 lanes x 2 FLOP/FMA"
        f"; INT8 x{int8}{' (VNNI)' if int8 == 4 else ''}"
    )
    return CpuPeak(cores, clock_ghz, lanes, 2, int8, formula)


def achieved(flops: int, ms_per_frame: float, peak_gflops: float) -> tuple[float, float]:
    """(achieved GFLOP/s, fraction of ``peak_gflops``) for ``flops`` done in ``ms_per_frame``."""
    gflops = flops / (ms_per_frame * 1e-3) / 1e9 if ms_per_frame > 0 else 0.0
    return gflops, gflops / peak_gflops if peak_gflops > 0 else 0.0
