"""Text of ``carbonedge audit fire``: one line per sequence or stills folder, then the totals."""

from __future__ import annotations

from carbonedge.vision.fire.audit import Score, SequenceScore, StillsScore, Totals


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0f} s"


def _rate(alarms: int, days: float) -> str:
    return f"{alarms} in {days:.3f} camera-days" + (
        f" ({alarms / days:.1f}/camera-day)" if days else ""
    )


def format_score(score: Score) -> str:
    if isinstance(score, StillsScore):
        which = ", ".join(score.alarmed_stills)
        return (
            f"{score.folder}: stills, {score.stills} x {score.frames_per_still} frames static and "
            f"jittered; false alarms: {score.static_false_alarms} static, "
            f"{score.jittered_false_alarms} jittered{f' ({which})' if which else ''}"
            + (
                f"; {score.labelled_skipped} labelled stills not scored"
                if score.labelled_skipped
                else ""
            )
        )
    head = f"{score.folder}: sequence, {score.frames} frames every {score.interval_s:.0f} s"
    if not score.positive:
        return f"{head}; negative; false alarms: {_rate(score.alarm_starts, score.negative_days)}"
    if score.detected:
        assert score.first_alarm_t_s is not None and score.ignition_t_s is not None
        verdict = (
            f"DETECTED at {score.first_alarm_frame}: {_s(score.time_to_alarm_s)} after the first "
            f"smoke frame, {_s(score.first_alarm_t_s - score.ignition_t_s)} after ignition"
        )
    else:
        verdict = "MISSED (no alarm on the smoke at or after ignition)"
    return (
        f"{head}; positive (truth: {score.truth_source}); {verdict}; alarms before ignition: "
        f"{score.alarms_before_ignition}; elsewhere after it: {score.alarms_elsewhere}; "
        f"alarm starts: {score.alarm_starts}"
        f"{f'; evidence: {score.evidence}' if score.evidence else ''}"
    )


def format_totals(t: Totals) -> str:
    median = "-" if t.median_time_to_alarm_s is None else f"{t.median_time_to_alarm_s:.0f} s"
    lines = [
        f"totals: positives alarmed {t.alarmed}/{t.positives}, median time from the first smoke "
        f"frame to the first alarm {median}, alarms before ignition "
        f"{_rate(t.alarms_before_ignition, t.pre_ignition_days)}, away from the smoke after "
        f"ignition {t.alarms_elsewhere}",
        f"        negative sequences {t.negative_sequences}: false alarms "
        f"{_rate(t.negative_false_alarms, t.negative_days)}; stills {t.stills}: false alarms "
        f"{t.stills_false_alarms}",
    ]
    lines += [f"        missed: {folder}" for folder in t.missed]
    return "\n".join(lines)


__all__ = ["format_score", "format_totals", "SequenceScore"]
