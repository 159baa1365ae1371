# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""HJ 212 CRC (private): Appendix A of HJ 212-2017, table-driven, GIL released on long input.

Input is validated and coerced by ``carbonedge.kernels.hj212``. Per byte the standard does
``reg = (reg >> 8) ^ byte`` and then 8 reflected shifts with 0xA001; the value going into the
shifts is below 256, so the 8 shifts are one lookup in the 256-entry table of 0xA001 (the
CRC-16/ARC table): ``reg = TABLE[(reg >> 8) ^ byte]``.
"""

from libc.stdint cimport uint8_t, uint16_t

cdef uint16_t TABLE[256]


cdef void _fill_table() noexcept:
    cdef unsigned int i, reg, k
    for i in range(256):
        reg = i
        for k in range(8):
            if reg & 1:
                reg = (reg >> 1) ^ 0xA001
            else:
                reg >>= 1
        TABLE[i] = <uint16_t>reg


_fill_table()


cdef inline uint16_t _crc(const uint8_t* data, Py_ssize_t n) noexcept nogil:
    cdef uint16_t reg = 0xFFFF
    cdef Py_ssize_t i
    for i in range(n):
        reg = TABLE[(reg >> 8) ^ data[i]]
    return reg


def crc16_hj212(const uint8_t[::1] data):
    """CRC of ``data`` (1-D uint8, C-contiguous) as an int 0..0xFFFF."""
    cdef Py_ssize_t n = data.shape[0]
    cdef uint16_t reg
    if n == 0:
        return 0xFFFF
    if n < 4096:  # releasing the GIL costs more than a short packet's CRC
        return _crc(&data[0], n)
    with nogil:
        reg = _crc(&data[0], n)
    return reg
