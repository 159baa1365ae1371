"""Interval emissions from per-class activity: grams with 95 % intervals, by class and movement.

Method A of the method doc (section 1.7): for each activity (a vehicle class, optionally one turning
movement), grams = distance x sum_k w_k EF_k(mean speed), where the mean speed is the average over
the vehicles' time in the scene *including stops* and the fleet mix w_k spreads the visual class
over sizes, fuels, 国 standards and electric. Stop time is reported separately as an idle
attribution (idle CO2 = idle time x idle rate), already inside the totals, never added.

Uncertainty: seeded Monte Carlo over the spreads in ``UncertaintyConfig``. The systematic draws
(factor error per class x fuel x pollutant, fleet-mix weights, speed calibration, count bias per
class, default segment length) are shared by all activities of an interval, so sums over
classes and movements carry the right correlation and do not narrow with more vehicles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from carbonedge.emissions import _mc_nb
from carbonedge.emissions.config import EmissionsConfig
from carbonedge.emissions.errors import EmissionsInputError
from carbonedge.emissions.fleet import INPUT_CLASSES, FleetModel
from carbonedge.emissions.tables import POLLUTANTS

Z95 = 1.959963984540054  # two-sided 95 % standard-normal quantile
EXCLUDED = ("cold_start", "non_exhaust_pm", "evaporative", "idle_nox_pm25_co_rates")


@dataclass(frozen=True, kw_only=True)
class ClassActivity:
    """What one vehicle class did in one interval (optionally on one movement).

    ``distance_km``: sum over vehicles of the distance travelled in the scene (None: vehicles x the
    config's default segment length). ``mean_speed_kmh``: distance-weighted mean of each vehicle's
    average speed over its time in the scene *including stops* (None: the config default).
    ``idle_s``: total vehicle-seconds stopped (reported as attribution, already inside the total).
    """

    vehicle_class: str
    vehicles: int
    movement: str | None = None
    distance_km: float | None = None
    mean_speed_kmh: float | None = None
    idle_s: float = 0.0

    def __post_init__(self) -> None:
        where = self.vehicle_class + (f" ({self.movement})" if self.movement else "")
        if self.vehicle_class not in INPUT_CLASSES:
            raise EmissionsInputError(
                f"vehicle_class: unknown class {self.vehicle_class!r} "
                f"(expected: {', '.join(INPUT_CLASSES)})"
            )
        if (
            isinstance(self.vehicles, bool)
            or int(self.vehicles) != self.vehicles
            or (self.vehicles < 0)
        ):
            raise EmissionsInputError(f"{where}: vehicles must be an integer >= 0")
        for name in ("distance_km", "mean_speed_kmh", "idle_s"):
            v = getattr(self, name)
            if v is not None and (not math.isfinite(v) or v < 0):
                raise EmissionsInputError(f"{where}: {name} must be finite and >= 0 (got {v})")
        if self.mean_speed_kmh is not None and self.mean_speed_kmh <= 0:
            raise EmissionsInputError(f"{where}: mean_speed_kmh must be > 0 (got 0)")


@dataclass(frozen=True)
class Grams:
    """Central estimate and 95 % interval, grams."""

    value: float
    lo: float
    hi: float

    def compact(self) -> list[float]:
        return [_sig(self.value), _sig(self.lo), _sig(self.hi)]


@dataclass(frozen=True)
class GroupEmissions:
    """Totals of a group of activities (a class, a movement or everything)."""

    vehicles: int
    distance_km: float
    idle_s: float
    grams: dict[str, Grams]  # pollutant (POLLUTANTS) -> grams

    def compact(self) -> dict[str, object]:
        out: dict[str, object] = {"vehicles": self.vehicles, "km": _sig(self.distance_km)}
        if self.idle_s:
            out["idle_s"] = _sig(self.idle_s)
        out.update({f"{p}_g": g.compact() for p, g in self.grams.items()})
        return out


@dataclass(frozen=True)
class IntervalEmissions:
    """Emissions of one interval. ``to_dict()`` is the compact form put into summaries."""

    method: str
    table_version: str
    start_s: float | None
    end_s: float | None
    total: GroupEmissions
    by_class: dict[str, GroupEmissions]
    by_movement: dict[str, GroupEmissions]
    idle_co2: Grams
    idle_co2_share: float | None
    draws: int
    proxies: tuple[str, ...] = ()
    defaults_used: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """JSON-ready; each pollutant is ``[value, lo95, hi95]`` grams (4 significant digits)."""
        out: dict[str, object] = {
            "method": self.method,
            "tables": self.table_version,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "interval": "95% Monte Carlo, [value, lo, hi] g",
            "total": self.total.compact(),
            "by_class": {k: g.compact() for k, g in self.by_class.items()},
        }
        if self.by_movement:
            out["by_movement"] = {k: g.compact() for k, g in self.by_movement.items()}
        out["idle"] = {
            "vehicle_s": _sig(self.total.idle_s),
            "co2_g": self.idle_co2.compact(),
            "co2_share": None if self.idle_co2_share is None else _sig(self.idle_co2_share),
            "in_total": True,
            "nox_pm25_co": "not_estimated",
        }
        out["excluded"] = list(EXCLUDED)
        if self.proxies:
            out["proxies"] = list(self.proxies)
        if self.defaults_used:
            out["defaults_used"] = list(self.defaults_used)
        return out


def _sig(x: float) -> float:
    return float(f"{x:.4g}")


class _Prepared:
    """Per-config state: the fleet model and the seeded systematic draws (built once)."""

    def __init__(self, config: EmissionsConfig) -> None:
        u = config.uncertainty
        self.fleet = FleetModel(config)
        rng = np.random.default_rng(u.seed)
        d, p = u.draws, len(POLLUTANTS)
        ln_ef = np.log([getattr(u.ef_gsd, name) for name in POLLUTANTS])
        self.f_ef = np.exp(rng.standard_normal((d, self.fleet.n_groups, p)) * ln_ef)
        self.m_mix = np.exp(
            rng.standard_normal((d, self.fleet.n_categories)) * np.log(u.fleet_mix_gsd)
        )
        self.ln_speed = rng.standard_normal(d) * np.log(u.speed_gsd)
        count_gsd = np.array([u.count_gsd_of(c) for c in INPUT_CLASSES])
        self.c_count = np.exp(rng.standard_normal((d, len(INPUT_CLASSES))) * np.log(count_gsd))
        self.f_len = np.exp(rng.standard_normal(d) * np.log(u.default_length_gsd))
        self.cv = np.array([getattr(u.vehicle_cv, name) for name in POLLUTANTS])
        self._seed = u.seed
        self.z_rand = np.empty((d, 0, p))
        self.speed_span = u.speed_gsd**Z95  # secant for the speed elasticity

    def z_rand_for(self, n_act: int) -> NDArray[np.float64]:
        """Vehicle-to-vehicle draws (D, n_act, P); block b of 64 activities always comes from
        seed (seed, 1, b), so the draws never depend on earlier calls."""
        d, have, p = self.z_rand.shape
        if have < n_act:
            blocks = [self.z_rand]
            for b in range(have // _BLOCK, -(-n_act // _BLOCK)):
                rng = np.random.default_rng([self._seed, 1, b])
                blocks.append(rng.standard_normal((d, _BLOCK, p)))
            self.z_rand = np.ascontiguousarray(np.concatenate(blocks, axis=1))
        return self.z_rand[:, :n_act]


_BLOCK = 64
_PREPARED: dict[int, tuple[EmissionsConfig, _Prepared]] = {}


def _prepared(config: EmissionsConfig) -> _Prepared:
    hit = _PREPARED.get(id(config))
    if hit is None or hit[0] is not config:
        if len(_PREPARED) > 16:  # configs are few and long-lived; bound the cache anyway
            _PREPARED.clear()
        hit = (config, _Prepared(config))
        _PREPARED[id(config)] = hit
    return hit[1]


def estimate_interval(
    activities: Sequence[ClassActivity],
    config: EmissionsConfig,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
) -> IntervalEmissions:
    """Grams of CO2, NOx, PM2.5 and CO for one interval, with 95 % intervals.

    ``activities``: one per class (and movement, when known). Raises ``EmissionsInputError`` for
    invalid activity values; classes are checked when the ``ClassActivity`` is built.
    """
    return _estimate(activities, config, _mc_nb.mc_draws, start_s, end_s)


def _estimate(
    activities: Sequence[ClassActivity],
    config: EmissionsConfig,
    mc: Callable[..., NDArray[np.float64]],
    start_s: float | None,
    end_s: float | None,
) -> IntervalEmissions:
    prep = _prepared(config)
    fleet = prep.fleet
    n_act = len(activities)
    defaults: list[str] = []
    # Step 1: per-activity distance, speed and the entries of its fleet mix
    mixes = [fleet.mix(a.vehicle_class) for a in activities]
    ptr = np.zeros(n_act + 1, np.int64)
    ptr[1:] = np.cumsum([len(m.cat) for m in mixes])
    cat = np.concatenate([m.cat for m in mixes]) if n_act else np.zeros(0, np.int64)
    group = np.concatenate([m.group for m in mixes]) if n_act else np.zeros(0, np.int64)
    weight = np.concatenate([m.weight for m in mixes]) if n_act else np.zeros(0)
    speed = np.array(
        [
            config.default_speed_kmh if a.mean_speed_kmh is None else a.mean_speed_kmh
            for a in activities
        ]
    )
    act_len = np.array([a.distance_km is None for a in activities], np.bool_)
    dist_km = np.array(
        [
            a.vehicles * config.default_segment_length_m / 1000.0
            if a.distance_km is None
            else a.distance_km
            for a in activities
        ]
    )
    if act_len.any():
        defaults.append("segment_length")
    if any(a.mean_speed_kmh is None for a in activities):
        defaults.append("speed")
    act_class = np.array([INPUT_CLASSES.index(a.vehicle_class) for a in activities], np.int64)
    # Step 2: factors at the speed and their speed elasticity (secant over the speed spread)
    v_entry = np.repeat(speed, np.diff(ptr))
    ef = fleet.factors(cat, v_entry)
    if prep.speed_span > 1.0:
        hi = fleet.factors(cat, v_entry * prep.speed_span)
        lo = fleet.factors(cat, v_entry / prep.speed_span)
        with np.errstate(divide="ignore", invalid="ignore"):
            elast = np.log(hi / lo) / (2.0 * np.log(prep.speed_span))
        elast = np.where(np.isfinite(elast), elast, 0.0)
    else:
        elast = np.zeros_like(ef)
    # Step 3: central values and Monte Carlo draws
    central = np.zeros((n_act, len(POLLUTANTS)))
    np.add.at(central, np.repeat(np.arange(n_act), np.diff(ptr)), weight[:, None] * ef)
    central *= dist_km[:, None]
    vehicles = np.array([a.vehicles for a in activities], np.float64)
    cv_n = prep.cv[None, :] / np.sqrt(np.maximum(vehicles, 1.0))[:, None]
    draws = mc(
        ptr,
        cat,
        group,
        weight,
        np.ascontiguousarray(ef),
        np.ascontiguousarray(elast),
        dist_km,
        act_class,
        act_len,
        np.ascontiguousarray(cv_n),
        prep.f_ef,
        prep.m_mix,
        prep.ln_speed,
        prep.c_count,
        prep.f_len,
        np.ascontiguousarray(prep.z_rand_for(n_act)),
    )
    # Step 4: idle attribution (idle time x mix-weighted idle CO2 rate; one systematic factor)
    idle_rate = np.zeros(n_act)
    np.add.at(
        idle_rate, np.repeat(np.arange(n_act), np.diff(ptr)), weight * fleet.idle_g_per_h[cat]
    )
    idle_s = np.array([a.idle_s for a in activities])
    idle_co2 = float((idle_s / 3600.0 * idle_rate).sum())
    k_idle = config.uncertainty.idle_rate_gsd**Z95
    return _assemble(
        activities,
        config,
        fleet,
        central,
        draws,
        dist_km,
        idle_co2,
        k_idle,
        defaults,
        start_s,
        end_s,
    )


def _assemble(
    activities, config, fleet, central, draws, dist_km, idle_co2, k_idle, defaults, start_s, end_s
) -> IntervalEmissions:
    groups: dict[tuple[str, str], list[int]] = {("total", ""): list(range(len(activities)))}
    for i, a in enumerate(activities):
        groups.setdefault(("class", a.vehicle_class), []).append(i)
        if a.movement is not None:
            groups.setdefault(("movement", a.movement), []).append(i)
    keys = list(groups)
    sel = np.zeros((len(activities), len(keys)))
    for j, key in enumerate(keys):
        sel[groups[key], j] = 1.0
    summed = np.matmul(draws.transpose(0, 2, 1), sel)  # (D, P, G)
    lo, hi = np.quantile(summed, [0.025, 0.975], axis=0).transpose(0, 2, 1)  # (G, P) each
    value = sel.T @ central  # (G, P)
    out: dict[tuple[str, str], GroupEmissions] = {}
    for j, key in enumerate(keys):
        idx = groups[key]
        out[key] = GroupEmissions(
            vehicles=int(sum(activities[i].vehicles for i in idx)),
            distance_km=float(dist_km[idx].sum()),
            idle_s=float(sum(activities[i].idle_s for i in idx)),
            grams={
                p: Grams(float(value[j, k]), float(lo[j, k]), float(hi[j, k]))
                for k, p in enumerate(POLLUTANTS)
            },
        )
    total = out[("total", "")]
    co2 = total.grams["co2"].value
    return IntervalEmissions(
        method=config.method,
        table_version=fleet.tables.version,
        start_s=start_s,
        end_s=end_s,
        total=total,
        by_class={k[1]: g for k, g in out.items() if k[0] == "class"},
        by_movement={k[1]: g for k, g in out.items() if k[0] == "movement"},
        idle_co2=Grams(idle_co2, idle_co2 / k_idle, idle_co2 * k_idle),
        idle_co2_share=min(1.0, idle_co2 / co2) if co2 > 0 else None,
        draws=config.uncertainty.draws,
        proxies=tuple(fleet.proxies),
        defaults_used=tuple(defaults),
    )
