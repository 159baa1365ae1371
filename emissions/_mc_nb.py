"""Numba Monte Carlo kernel for interval emissions (private; called by ``estimate.py``).

Inputs are trusted (built by ``estimate.py``); ``_mc_ref.py`` is the NumPy reference with the same
signature and the parity test compares the two on the same draws.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
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
):  # pragma: no cover - compiled
    """Grams (D, A, P) per draw, activity and pollutant.

    Activity a owns entries ptr[a]:ptr[a+1] (category cat, factor group group, fleet weight
    weight, factor ef (., P) g/km at its speed, speed elasticity elast (., P)). Per draw d:
    fleet weights are multiplied by m_mix[d, cat] and renormalised, factors by f_ef[d, group, p]
    and by the speed error exp(elast * ln_speed[d]) (second-order series), the distance by
    c_count[d, act_class[a]] and, where act_len[a], by f_len[d]; the vehicle-to-vehicle term is
    max(0, 1 + cv_n[a, p] * z_rand[d, a, p]).
    """
    n_draws = f_ef.shape[0]
    n_act = ptr.shape[0] - 1
    n_pol = ef.shape[1]
    out = np.zeros((n_draws, n_act, n_pol))
    num = np.zeros(n_pol)
    for d in range(n_draws):
        ls = ln_speed[d]
        for a in range(n_act):
            denom = 0.0
            for p in range(n_pol):
                num[p] = 0.0
            for j in range(ptr[a], ptr[a + 1]):
                w = weight[j] * m_mix[d, cat[j]]
                denom += w
                g = group[j]
                for p in range(n_pol):
                    x = elast[j, p] * ls
                    num[p] += w * f_ef[d, g, p] * ef[j, p] * (1.0 + x + 0.5 * x * x)
            scale = dist_km[a] * c_count[d, act_class[a]]
            if act_len[a]:
                scale *= f_len[d]
            if denom > 0.0:
                scale /= denom
            for p in range(n_pol):
                r = 1.0 + cv_n[a, p] * z_rand[d, a, p]
                out[d, a, p] = scale * num[p] * (r if r > 0.0 else 0.0)
    return out
