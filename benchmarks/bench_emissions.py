"""Interval emissions of a busy intersection (10^4 vehicles): Numba Monte Carlo vs NumPy reference.

Rows: the Monte Carlo kernel alone, and the whole ``estimate_interval`` (factors at speed, draws,
quantiles, summary) with either kernel. Divide ``ours ms`` by the number of classes (5) for the
per-class cost.
"""

from __future__ import annotations

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.emissions import ClassActivity, EmissionsConfig, _mc_nb, _mc_ref
from carbonedge.emissions import estimate as est

_SHARE = {"car": 0.80, "van": 0.05, "bus": 0.02, "truck": 0.06, "motorcycle": 0.07}


def _activities(movements: int, vehicles: int = 10_000) -> list[ClassActivity]:
    """5 classes x ``movements`` turning movements, ``vehicles`` in all, 120 m each, 40 % idle."""
    out = []
    for cls, share in _SHARE.items():
        for m in range(movements):
            n = max(1, round(vehicles * share / movements))
            out.append(
                ClassActivity(
                    vehicle_class=cls,
                    movement=f"m{m}" if movements > 1 else None,
                    vehicles=n,
                    distance_km=0.12 * n,
                    mean_speed_kmh=12.0 + 2.0 * m % 20,
                    idle_s=12.0 * n,
                )
            )
    return out


def _rows_for(movements: int, config: EmissionsConfig) -> list[Row]:
    acts = _activities(movements)
    case = f"1e4 veh, 5 classes x {movements} mov, {config.uncertainty.draws} draws"
    captured: dict[str, tuple] = {}

    def grab(*args):
        captured["args"] = args
        return _mc_nb.mc_draws(*args)

    est._estimate(acts, config, grab, None, None)
    args = captured["args"]
    return [
        compare(
            "emissions_mc",
            case,
            lambda: _mc_nb.mc_draws(*args),
            lambda: _mc_ref.mc_draws(*args),
        ),
        compare(
            "estimate_interval",
            case,
            lambda: est._estimate(acts, config, _mc_nb.mc_draws, None, None),
            lambda: est._estimate(acts, config, _mc_ref.mc_draws, None, None),
            reference_name="numpy kernel",
        ),
    ]


def run(quick: bool) -> list[Row]:
    """Kernel and end-to-end rows for 1 and 12 movements per class (quick: 12 only)."""
    config = EmissionsConfig()
    rows: list[Row] = []
    for movements in (12,) if quick else (1, 12):
        rows.extend(_rows_for(movements, config))
    return rows
