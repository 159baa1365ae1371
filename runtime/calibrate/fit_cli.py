"""``carbonedge calibrate homography|intrinsics|save|show|verify``: calibration from the shell.

Everything the technician page does is possible here plus a YAML file:

- ``homography POINTS.csv|yaml [--image-size WxH]``: fit, print per-point and leave-one-out
  errors and the verdict; exit 0 on pass, 1 on fail. CSV rows are ``x_px, y_px, x_m, y_m``
  (a header line is allowed); YAML is a list of ``{image_px: [x, y], world_m: [x, y]}`` or a
  mapping with ``points:`` and optionally ``image_size_px:``.
- ``intrinsics IMAGES... --board 9x6 --square-mm 25 [--out FILE.json]``.
- ``save SITE.yaml --source ID --from FILE.yaml [--snapshot IMG]``: a signed record from the
  fields of ``CalibrationRecord`` (lines, zones, masks, ground_plane, notes, ...); instead of
  ``ground_plane`` the file may give ``homography_points`` (as above), which are fitted and
  must pass (``--allow-fail`` stores a failing fit anyway).
- ``show SITE.yaml --source ID``: the current record and the history.
- ``verify FILE.json (--site SITE.yaml | --key-file KEY)``: exit 0 when the signature holds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(calibrate_sub: argparse._SubParsersAction) -> None:
    p = calibrate_sub.add_parser("homography", help="fit a ground-plane homography from points")
    p.add_argument("points", type=Path, help="CSV (x_px,y_px,x_m,y_m) or YAML point pairs")
    p.add_argument("--image-size", type=_size, default=None, metavar="WxH")
    p.add_argument("--ransac-threshold-m", type=float, default=0.5)
    p.add_argument("--pass-rms-m", type=float, default=0.5)
    p.add_argument("--json", action="store_true", help="print the fit as JSON")
    p.set_defaults(handler=_homography)

    p = calibrate_sub.add_parser("intrinsics", help="intrinsics from checkerboard images")
    p.add_argument("images", type=Path, nargs="+")
    p.add_argument("--board", type=_size, default=(9, 6), metavar="COLSxROWS",
                   help="inner corners (default 9x6)")  # fmt: skip
    p.add_argument("--square-mm", type=float, default=25.0)
    p.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    p.set_defaults(handler=_intrinsics)

    p = calibrate_sub.add_parser("save", help="write a signed calibration record from YAML")
    p.add_argument("config", type=Path, metavar="SITE.yaml")
    p.add_argument("--source", required=True)
    p.add_argument("--from", dest="from_file", type=Path, required=True, metavar="FILE.yaml")
    p.add_argument("--snapshot", type=Path, default=None, help="PNG the geometry was drawn on")
    p.add_argument("--by", default=None, help="who calibrated (default: created_by in FILE)")
    p.add_argument("--allow-fail", action="store_true", help="store a failing homography fit")
    p.set_defaults(handler=_save)

    p = calibrate_sub.add_parser("show", help="current calibration record and history")
    p.add_argument("config", type=Path, metavar="SITE.yaml")
    p.add_argument("--source", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_show)

    p = calibrate_sub.add_parser("verify", help="check a calibration record's signature")
    p.add_argument("file", type=Path, metavar="FILE.json")
    key = p.add_mutually_exclusive_group(required=True)
    key.add_argument("--site", type=Path, metavar="SITE.yaml", help="use the site's key")
    key.add_argument("--key-file", type=Path)
    p.set_defaults(handler=_verify)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 640x360 (got {text!r})") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"both sizes must be >= 1 (got {text!r})")
    return w, h


# --- homography ------------------------------------------------------------------------------
def load_points(path: Path) -> tuple[list, list, tuple[int, int] | None]:
    """(image_px, world_m, image_size_px or None) from a CSV or YAML points file."""
    from carbonedge.calibration.errors import CalibrationInputError

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationInputError(f"{path}: cannot read the points file ({exc})") from None
    if path.suffix.lower() == ".csv":
        return (*_csv_points(path, text), None)
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CalibrationInputError(f"{path}: malformed YAML ({exc})") from None
    return points_from_yaml(data, str(path))


def points_from_yaml(data: Any, where: str) -> tuple[list, list, tuple[int, int] | None]:
    from carbonedge.calibration.errors import CalibrationInputError

    size = None
    if isinstance(data, dict):
        size = tuple(data["image_size_px"]) if data.get("image_size_px") else None
        data = data.get("points")
    if not isinstance(data, list):
        raise CalibrationInputError(f"{where}: expected a list of points (image_px, world_m)")
    image, world = [], []
    for i, row in enumerate(data, start=1):
        if not isinstance(row, dict) or set(row) != {"image_px", "world_m"}:
            raise CalibrationInputError(
                f"{where}: point {i}: expected exactly the keys image_px and world_m"
            )
        image.append(row["image_px"])
        world.append(row["world_m"])
    return image, world, size  # type: ignore[return-value]


def _csv_points(path: Path, text: str) -> tuple[list, list]:
    from carbonedge.calibration.errors import CalibrationInputError

    image, world = [], []
    header_allowed = True
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in line.split(",")]
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if header_allowed:
                header_allowed = False
                continue  # the header line
            raise CalibrationInputError(f"{path}:{n}: expected 4 numbers, got {line!r}") from None
        if len(values) != 4:
            raise CalibrationInputError(f"{path}:{n}: expected x_px, y_px, x_m, y_m ({line!r})")
        header_allowed = False
        image.append(values[:2])
        world.append(values[2:])
    return image, world


def format_fit(fit: Any) -> str:
    out = [f"{'#':>3} {'x_px':>8} {'y_px':>8} {'X_m':>8} {'Y_m':>8} {'err_m':>7} {'err_px':>7} "
           f"{'loo_m':>7}  inlier"]  # fmt: skip
    for i in range(len(fit.image_px)):
        loo = fit.loo_error_m[i]
        out.append(
            f"{i + 1:>3} {fit.image_px[i, 0]:>8.1f} {fit.image_px[i, 1]:>8.1f} "
            f"{fit.world_m[i, 0]:>8.2f} {fit.world_m[i, 1]:>8.2f} {fit.per_point_error_m[i]:>7.3f} "
            f"{fit.per_point_error_px[i]:>7.2f} {'-' if loo != loo else f'{loo:.3f}':>7}  "
            f"{'yes' if fit.inliers[i] else 'NO'}"
        )
    out.append(f"RMS {fit.rms_error_m:.3f} m, {fit.rms_error_px:.2f} px over "
               f"{int(fit.inliers.sum())} inliers; click noise ~{fit.noise_px:.2f} px")  # fmt: skip
    out.append("PASS" if fit.verdict == "pass" else f"FAIL: {fit.reason}")
    if getattr(fit, "note", ""):
        out.append(f"note: {fit.note}")
    return "\n".join(out)


def _homography(args: argparse.Namespace) -> int:
    from carbonedge.calibration.homography import fit_ground_plane

    image, world, size = load_points(args.points)
    fit = fit_ground_plane(
        image, world, image_size_px=args.image_size or size,
        ransac_threshold_m=args.ransac_threshold_m, pass_rms_m=args.pass_rms_m,
    )  # fmt: skip
    print(json.dumps(fit.to_dict(), indent=1) if args.json else format_fit(fit))
    return 0 if fit.verdict == "pass" else 1


# --- intrinsics ------------------------------------------------------------------------------
def _intrinsics(args: argparse.Namespace) -> int:
    from carbonedge.calibration.intrinsics import calibrate_images

    result = calibrate_images(args.images, board=args.board, square_mm=args.square_mm)
    fx, fy = result.focal_px
    cx, cy = result.principal_point_px
    print(f"boards found in {len(result.frames_used)} of {len(args.images)} images")
    for name in result.frames_rejected:
        print(f"  no board: {name}")
    print(f"fx {fx:.1f} px, fy {fy:.1f} px, cx {cx:.1f} px, cy {cy:.1f} px, "
          f"hfov {result.hfov_deg:.1f} deg")  # fmt: skip
    print("distortion k1 k2 p1 p2 k3: " + " ".join(f"{v:+.4f}" for v in result.dist_coeffs))
    print(f"RMS reprojection error {result.rms_error_px:.3f} px")
    if args.out is not None:
        args.out.write_text(json.dumps(result.to_dict(), indent=1) + "\n", encoding="utf-8")
        print(f"written to {args.out}")
    return 0


# --- records ---------------------------------------------------------------------------------
def _store(config_path: Path) -> tuple[Any, Any]:
    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.runtime.calibrate.active import record_store_for
    from carbonedge.runtime.config import load_site_config

    config = load_site_config(config_path)
    store = record_store_for(config)
    if store is None:
        raise ConfigError(f"{config_path}: calibration: section missing (records_dir, key)")
    return config, store


def _save(args: argparse.Namespace) -> int:
    import yaml
    from pydantic import ValidationError

    from carbonedge.calibration.errors import CalibrationInputError
    from carbonedge.calibration.homography import fit_ground_plane
    from carbonedge.calibration.record import CalibrationRecord

    config, store = _store(args.config)
    ids = [*config.cameras, *(s.id for s in config.sensors)]
    if args.source not in ids:
        raise CalibrationInputError(
            f"{args.config}: --source {args.source!r} is not among the cameras and sensors "
            f"({', '.join(ids)})"
        )
    try:
        data = yaml.safe_load(args.from_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CalibrationInputError(f"{args.from_file}: cannot read ({exc})") from None
    if not isinstance(data, dict):
        raise CalibrationInputError(f"{args.from_file}: expected a mapping of record fields")
    data = {**data, "source_id": args.source}
    if args.by:
        data["created_by"] = args.by
    if "homography_points" in data:
        image, world, size = points_from_yaml(data.pop("homography_points"), str(args.from_file))
        size = size or data.get("image_size_px")
        fit = fit_ground_plane(image, world, image_size_px=size)
        print(format_fit(fit))
        if fit.verdict != "pass" and not args.allow_fail:
            print("not saved: the homography fit fails (--allow-fail stores it anyway)")
            return 1
        data["ground_plane"] = fit.ground_plane_config().model_dump(mode="json")
        data["homography_fit"] = fit.to_dict()
    snapshot = None
    if args.snapshot is not None:
        try:
            snapshot = args.snapshot.read_bytes()
        except OSError as exc:
            raise CalibrationInputError(f"{args.snapshot}: cannot read ({exc})") from None
    try:
        draft = CalibrationRecord.model_validate(data)
    except ValidationError as exc:
        from carbonedge.runtime.config import format_validation_error

        raise CalibrationInputError(f"{args.from_file}: {format_validation_error(exc)}") from None
    record = store.save(draft, snapshot)
    print(f"saved {record.record_id} sha256 {record.sha256()} in {store.root / args.source}")
    return 0


def _show(args: argparse.Namespace) -> int:
    _, store = _store(args.config)
    current = store.current(args.source)
    history = store.history(args.source)
    problems = store.problems(args.source)
    if args.json:
        print(json.dumps({
            "current": current.to_json_dict() if current else None,
            "history": [{"record_id": r.record_id, "created_at": r.created_at,
                         "created_by": r.created_by, "sha256": r.sha256()} for r in history],
            "problems": problems,
        }, indent=1))  # fmt: skip
        return 0
    if current is None:
        print(f"{args.source}: no valid calibration record in {store.root / args.source}")
    else:
        fit = current.homography_fit or {}
        quality = f" (RMS {fit['rms_error_m']:.3f} m, {fit['verdict']})" if fit else ""
        print(f"current: {current.record_id} by {current.created_by} at {current.created_at}: "
              f"{len(current.lines)} lines, {len(current.zones)} zones, ground plane "
              f"{'yes' if current.ground_plane else 'no'}{quality}")  # fmt: skip
    for r in history:
        print(f"  v{r.version}: {r.created_at} by {r.created_by} sha256 {r.sha256()[:16]}"
              + (f"  {r.notes}" if r.notes else ""))  # fmt: skip
    for problem in problems:
        print(f"  REFUSED {problem}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from carbonedge.calibration.errors import CalibrationSignatureError
    from carbonedge.calibration.record import RecordStore
    from carbonedge.runtime.base.signing import read_key

    if args.site is not None:
        _, store = _store(args.site)
    else:
        store = RecordStore(args.file.parent.parent, read_key(None, args.key_file))
    try:
        record = store.load_verified(args.file)
    except CalibrationSignatureError as exc:
        print(f"INVALID: {exc}")
        return 1
    print(f"OK: {args.file} is {record.record_id}, sha256 {record.sha256()}")
    return 0
