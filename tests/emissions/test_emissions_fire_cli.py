"""Fire emissions (Seiler-Crutzen, rough) and the ``carbonedge emissions`` command."""

from __future__ import annotations

import json
import math

import pytest

from carbonedge.emissions import UnknownCategoryError, fire_emissions
from carbonedge.runtime.cli import main


def test_fire_is_area_times_fuel_times_factor_with_lognormal_interval():
    r = fire_emissions(2000.0, "temperate_forest")
    # GFED4 TEMF CO2 1647 g/kg DM; fuel consumed 1.0 kg DM/m2 (geometric mid of 5-20 t/ha)
    assert r.grams["co2"].value == pytest.approx(2000.0 * 1.0 * 1647)
    k = math.exp(
        1.959964 * math.sqrt(math.log(1.5) ** 2 + math.log(2.0) ** 2 + math.log(1.05) ** 2)
    )
    assert r.grams["co2"].hi == pytest.approx(r.grams["co2"].value * k, rel=1e-5)
    assert r.grams["pm25"].value == pytest.approx(2000.0 * 12.9)
    d = r.to_dict()
    assert d["rough_estimate"] is True and len(d["co_g"]) == 3


def test_fire_rejects_unknown_biome_and_bad_area():
    with pytest.raises(UnknownCategoryError, match="biome 'tundra'"):
        fire_emissions(10.0, "tundra")
    from carbonedge.emissions import EmissionsInputError

    with pytest.raises(EmissionsInputError, match="area_m2"):
        fire_emissions(-1.0, "boreal_forest")


CSV = """vehicle_class,movement,vehicles,distance_km,mean_speed_kmh,idle_s
car,N->S,420,50.4,18.5,9240
bus,N->S,12,1.44,11.0,540
bus_or_truck,N->E,5,,,
"""


def test_cli_prints_both_methods_side_by_side(tmp_path, capsys):
    path = tmp_path / "approach.csv"
    path.write_text(CSV)
    assert main(["emissions", str(path)]) == 0
    out = capsys.readouterr().out
    assert "COPERT (EMEP/EEA 2019)" in out and "China MEE 2014" in out
    assert "idle CO2 g (in total)" in out and "bus_or_truck" in out


def test_cli_json_matches_the_library(tmp_path, capsys):
    from carbonedge.emissions import ClassActivity, EmissionsConfig, estimate_interval

    path = tmp_path / "approach.csv"
    path.write_text(CSV)
    cfg = tmp_path / "site.yaml"
    cfg.write_text("device_id: x\nemissions:\n  method: mee2014\n  default_speed_kmh: 30\n")
    assert (
        main(["emissions", str(path), "--config", str(cfg), "--method", "mee2014", "--json"]) == 0
    )
    got = json.loads(capsys.readouterr().out)
    acts = [
        ClassActivity(
            vehicle_class="car",
            movement="N->S",
            vehicles=420,
            distance_km=50.4,
            mean_speed_kmh=18.5,
            idle_s=9240,
        ),
        ClassActivity(
            vehicle_class="bus",
            movement="N->S",
            vehicles=12,
            distance_km=1.44,
            mean_speed_kmh=11.0,
            idle_s=540,
        ),
        ClassActivity(vehicle_class="bus_or_truck", movement="N->E", vehicles=5),
    ]
    expected = estimate_interval(
        acts, EmissionsConfig(method="mee2014", default_speed_kmh=30)
    ).to_dict()
    assert got == json.loads(json.dumps(expected))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("vehicle_class,vehicles\ncar,many\n", "line 2: vehicles"),
        ("vehicle_class,vehicles,mean_speed_kmh\ncar,3,fast\n", "line 2: mean_speed_kmh"),
        ("vehicle_class,vehicles\ncar,3\nufo,2\n", "line 3: vehicle_class: unknown class 'ufo'"),
        ("movement,vehicles\nN->S,3\n", "missing column"),
    ],
)
def test_cli_bad_csv_is_one_line_and_exit_2(tmp_path, capsys, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert main(["emissions", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err
    assert match in err


def test_cli_bad_config_names_the_key(tmp_path, capsys):
    path = tmp_path / "a.csv"
    path.write_text(CSV)
    cfg = tmp_path / "e.yaml"
    cfg.write_text("fleet:\n  car: {size: {medium: 1}, fuel: {petrol: 1}, standard: {VII: 1}}\n")
    assert main(["emissions", str(path), "--config", str(cfg)]) == 2
    assert "fleet.car.standard: unknown emission standard 'VII'" in capsys.readouterr().err
