"""NumPy reference of ``_mc_nb.mc_draws`` (same signature and result; used by the parity test and
the benchmark)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def mc_draws(
    ptr,
    cat,
    group,
    weight,
    ef,
    elast,
    dist_km,
    act_class,
    act_len,
    cv_n,
    f_ef,
    m_mix,
    ln_speed,
    c_count,
    f_len,
    z_rand,
) -> NDArray[np.float64]:
    """Grams (D, A, P); see ``_mc_nb.mc_draws`` for the model."""
    n_act = len(ptr) - 1
    owner = np.repeat(np.arange(n_act), np.diff(ptr))  # (nnz,) activity of each entry
    w = weight[None, :] * m_mix[:, cat]  # (D, nnz)
    x = elast[None, :, :] * ln_speed[:, None, None]  # (D, nnz, P)
    term = w[:, :, None] * f_ef[:, group, :] * ef[None] * (1.0 + x + 0.5 * x * x)
    num = np.zeros((len(ln_speed), n_act, ef.shape[1]))
    np.add.at(num, (slice(None), owner), term)
    denom = np.zeros((len(ln_speed), n_act))
    np.add.at(denom, (slice(None), owner), w)
    scale = dist_km[None, :] * c_count[:, act_class]
    scale = np.where(act_len[None, :], scale * f_len[:, None], scale)
    scale = np.where(denom > 0, scale / np.where(denom > 0, denom, 1.0), scale)
    r = np.maximum(1.0 + cv_n[None] * z_rand, 0.0)
    return scale[:, :, None] * num * r
