"""HJ 212 CRC (Appendix A of HJ 212-2017) for the China platform link.

Compiled implementation: ``carbonedge.kernels._hj212`` (Cython, GIL released on long input).
Reference of the same signature: ``carbonedge.kernels.reference`` (``_ref_hj212.py``).
"""

from __future__ import annotations

from carbonedge.kernels import _register, _require

__all__ = ["crc16_hj212"]

_register("crc16_hj212", "cython", "_hj212")


def crc16_hj212(data: bytes | bytearray | memoryview) -> int:
    """HJ 212 CRC of ``data`` (the packet's data segment), an int 0..0xFFFF.

    This is the standard's own "ANSI CRC16" (register 0xFFFF, ``reg = (reg >> 8) ^ byte``, then
    8 reflected shifts with 0xA001), not CRC-16/MODBUS. Write it as ``'%04X' % crc``.

    Args:
        data: bytes-like, 1-D and contiguous (bytes, bytearray, memoryview, uint8 array).
            Text must be encoded first (UTF-8, as the standard says).

    Raises:
        TypeError: ``data`` is a str or not bytes-like.
        ValueError: ``data`` is not 1-D contiguous bytes.
    """
    if isinstance(data, str):
        raise TypeError("crc16_hj212: expected bytes, got str (encode it as UTF-8 first)")
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"crc16_hj212: expected bytes-like, got {type(data).__name__}") from None
    if view.ndim != 1 or not view.c_contiguous or view.itemsize != 1:
        raise ValueError(
            f"crc16_hj212: expected 1-D contiguous bytes, got ndim={view.ndim}, "
            f"itemsize={view.itemsize}, contiguous={view.c_contiguous}"
        )
    if view.format != "B":
        view = view.cast("B")
    return _require("_hj212").crc16_hj212(view)
