"""Reference ByteTrack: the NumPy/scipy implementation the compiled tracker must reproduce.

This is the tracker as it was before its per-frame step became a Numba kernel
(``carbonedge.kernels._bytetrack_nb``), kept unchanged in behaviour: state in parallel NumPy
arrays compacted whenever a track is removed, the batched Kalman kernels of
``carbonedge.kernels``, ``box_iou`` and ``scipy.optimize.linear_sum_assignment``. It defines what
:class:`carbonedge.vision.tracking.ByteTrack` computes: the parity test runs both frame by frame,
and the tracking benchmark reports the compiled tracker's speed against it. Same public API as
``ByteTrack``; see that module for the algorithm.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from carbonedge.kernels import box_iou, kalman_initiate, kalman_predict, kalman_update
from carbonedge.runtime.base.types import Detections
from carbonedge.vision.tracking.bytetrack import ByteTrackConfig

__all__ = ["ReferenceByteTrack"]

_DUPLICATE_IOU = 0.85  # ByteTrack's remove_duplicate_stracks: IoU distance < 0.15
_REMOVED_QUEUE_MAX = 65536  # removed ids waiting for pop_removed(); oldest dropped beyond this
_I64 = np.zeros(0, np.int64)


def _xyah_to_xyxy(xyah: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, 4) centre/aspect/height -> (N, 4) corners."""
    half_w = xyah[:, 2] * xyah[:, 3] * 0.5
    half_h = xyah[:, 3] * 0.5
    x, y = xyah[:, 0], xyah[:, 1]
    return np.stack([x - half_w, y - half_h, x + half_w, y + half_h], axis=1)


def _xyxy_to_xyah(xyxy: NDArray) -> NDArray[np.float64]:
    """(N, 4) corners -> (N, 4) float64 centre x, centre y, aspect w/h, height."""
    b = np.asarray(xyxy, np.float64)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return np.stack([b[:, 0] + w * 0.5, b[:, 1] + h * 0.5, w / h, h], axis=1)


def _without(rows: NDArray[np.int64], used: NDArray[np.int64], size: int) -> NDArray[np.int64]:
    """``rows`` minus ``used`` (indices < size), order kept; cheaper than np.setdiff1d."""
    mask = np.ones(size, bool)
    mask[used] = False
    return rows[mask[rows]]


def _split_by_score(
    detections: Detections, high_score: float, low_score: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Rows with usable boxes and confidence >= high_score, and in [low_score, high_score)."""
    xyxy, conf = detections.xyxy, detections.confidence
    if len(detections) and int(detections.class_id.min()) < 0:
        raise ValueError("ByteTrack.update: class_id must be >= 0")
    usable = np.isfinite(xyxy).all(axis=1) & (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    high = np.flatnonzero(usable & (conf >= high_score))
    low = np.flatnonzero(usable & (conf >= low_score) & (conf < high_score))
    return high, low


def _match(
    track_xyxy: NDArray, det_xyxy: NDArray, det_score: NDArray | None, min_similarity: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Optimal assignment of tracks (rows) to detections (columns) with similarity >= threshold.

    Returns (track positions, detection positions) of the accepted pairs, int64.
    """
    if len(track_xyxy) == 0 or len(det_xyxy) == 0:
        return _I64, _I64
    sim = box_iou(track_xyxy, det_xyxy).astype(np.float64)
    if det_score is not None:
        sim *= det_score[None, :]
    max_cost = 1.0 - min_similarity
    cost = 1.0 - sim
    cost[cost > max_cost] = max_cost + 1e-4
    rows, cols = linear_sum_assignment(cost)
    ok = cost[rows, cols] <= max_cost
    return rows[ok].astype(np.int64), cols[ok].astype(np.int64)


class ReferenceByteTrack:
    """ByteTrack over ``Detections`` in NumPy/scipy; one instance per source.

    Args:
        config: thresholds and buffers.
        fps: the source's real frame rate (frames per second); the lost buffer in frames is
            ``round(lost_buffer_s * fps)``. The Kalman step is one frame.
    """

    def __init__(self, config: ByteTrackConfig, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"ByteTrack: fps must be > 0, got {fps}")
        self.config = config
        self.fps = float(fps)
        self.lost_buffer_frames = round(config.lost_buffer_s * self.fps)
        self._next_id = 1
        self._removed: deque[int] = deque(maxlen=_REMOVED_QUEUE_MAX)
        self._clear()

    # --- state table ------------------------------------------------------------------------------
    def _clear(self) -> None:
        self._frame = 0
        self._mean = np.zeros((0, 8), np.float64)
        self._cov = np.zeros((0, 8, 8), np.float64)
        self._id = np.zeros(0, np.int64)
        self._tracked = np.zeros(0, bool)  # False: lost (confirmed, unmatched for a while)
        self._confirmed = np.zeros(0, bool)
        self._hits = np.zeros(0, np.int64)
        self._start_frame = np.zeros(0, np.int64)
        self._last_frame = np.zeros(0, np.int64)
        self._votes = np.zeros((0, 1), np.float64)  # (T, C) summed confidence per class id

    def _keep(self, keep: NDArray[np.bool_]) -> None:
        """Drop the rows where ``keep`` is False, queueing the ids of confirmed ones."""
        if keep.all():
            return
        self._removed.extend(self._id[~keep & self._confirmed].tolist())
        for name in (
            "_mean",
            "_cov",
            "_id",
            "_tracked",
            "_confirmed",
            "_hits",
            "_start_frame",
            "_last_frame",
            "_votes",
        ):
            setattr(self, name, np.ascontiguousarray(getattr(self, name)[keep]))

    def _add(self, xyxy: NDArray, class_id: NDArray, conf: NDArray) -> NDArray[np.int64]:
        """Append new unconfirmed tracks; returns their row indices."""
        n = len(xyxy)
        mean, cov = kalman_initiate(_xyxy_to_xyah(xyxy))
        first = len(self._id)
        self._mean = np.concatenate([self._mean, mean])
        self._cov = np.concatenate([self._cov, cov])
        self._id = np.concatenate([self._id, np.arange(self._next_id, self._next_id + n)])
        self._next_id += n
        self._tracked = np.concatenate([self._tracked, np.ones(n, bool)])
        self._confirmed = np.concatenate([self._confirmed, np.zeros(n, bool)])
        self._hits = np.concatenate([self._hits, np.zeros(n, np.int64)])
        self._start_frame = np.concatenate([self._start_frame, np.full(n, self._frame)])
        self._last_frame = np.concatenate([self._last_frame, np.full(n, self._frame)])
        self._votes = np.concatenate([self._votes, np.zeros((n, self._votes.shape[1]))])
        rows = np.arange(first, first + n, dtype=np.int64)
        self._record_hits(rows, class_id, conf)
        return rows

    def _record_hits(self, rows: NDArray[np.int64], class_id: NDArray, conf: NDArray) -> None:
        """Matched this frame: count the hit, vote for the class, confirm after min_hits."""
        if len(class_id) and int(class_id.max()) >= self._votes.shape[1]:
            grow = int(class_id.max()) + 1 - self._votes.shape[1]
            self._votes = np.concatenate([self._votes, np.zeros((len(self._votes), grow))], axis=1)
        self._votes[rows, class_id] += conf
        self._hits[rows] += 1
        self._last_frame[rows] = self._frame
        self._tracked[rows] = True
        self._confirmed[rows] |= self._hits[rows] >= self.config.min_hits

    # --- public API -------------------------------------------------------------------------------
    @property
    def active_track_count(self) -> int:
        """Confirmed tracks currently tracked (not lost)."""
        return int(np.count_nonzero(self._tracked & self._confirmed))

    @property
    def held_track_count(self) -> int:
        """Every track held in memory: tracked, lost and unconfirmed."""
        return len(self._id)

    def warmup(self) -> None:
        """Compile or load the Numba Kalman kernels once (call before reporting ready)."""
        mean, cov = kalman_initiate(np.array([[10.0, 10.0, 1.0, 10.0]]))
        kalman_predict(mean, cov)
        kalman_update(mean, cov, np.array([[11.0, 10.0, 1.0, 10.0]]))

    def pop_removed(self) -> list[int]:
        """Ids of confirmed tracks removed since the last call (call once per frame)."""
        out = list(self._removed)
        self._removed.clear()
        return out

    def reset(self) -> None:
        """Forget every track (confirmed ids go to :meth:`pop_removed`); ids are never reused."""
        self._removed.extend(self._id[self._confirmed].tolist())
        self._clear()

    def update(self, detections: Detections) -> Detections:
        """Track one frame's detections.

        Args:
            detections: this frame's detections (any ``tracker_id`` is ignored). Rows with
                non-finite boxes or zero width/height, or below ``low_score``, are ignored.

        Returns:
            The input rows matched to confirmed tracks this frame, in input order, with
            ``tracker_id`` set, ``class_id`` replaced by the track's confidence-weighted class vote
            and ``xyxy``, ``confidence`` and ``source_row`` as in the input.
        """
        cfg = self.config
        self._frame += 1
        xyxy, conf, cls = detections.xyxy, detections.confidence, detections.class_id
        n_tracks, n_dets = len(self._id), len(detections)
        high, low = _split_by_score(detections, cfg.high_score, cfg.low_score)

        # Step 1: predict every track (lost tracks stop growing or shrinking, as in ByteTrack)
        if n_tracks:
            self._mean[~self._tracked, 7] = 0.0
            kalman_predict(self._mean, self._cov)
        track_xyxy = _xyah_to_xyxy(self._mean[:, :4])
        fuse = conf if cfg.fuse_score else None

        # Step 2: first association, high-score detections vs confirmed tracks (tracked and lost)
        pool = np.flatnonzero(self._confirmed)
        t1, d1 = self._associate(pool, high, track_xyxy, xyxy, fuse, cfg.match_iou)
        rest_tracks = _without(pool, t1, n_tracks)
        rest_high = _without(high, d1, n_dets)

        # Step 3: second association, low-score detections vs the remaining tracked tracks
        rest_tracked = rest_tracks[self._tracked[rest_tracks]]
        t2, d2 = self._associate(rest_tracked, low, track_xyxy, xyxy, None, cfg.second_match_iou)
        newly_lost = _without(rest_tracked, t2, n_tracks)

        # Step 4: unconfirmed tracks vs the remaining high-score detections
        unconfirmed = np.flatnonzero(~self._confirmed)
        t3, d3 = self._associate(
            unconfirmed, rest_high, track_xyxy, xyxy, fuse, cfg.unconfirmed_match_iou
        )
        failed_unconfirmed = _without(unconfirmed, t3, n_tracks)
        rest_high = _without(rest_high, d3, n_dets)

        # Step 5: one batched Kalman update for every matched track
        rows, dets = np.concatenate([t1, t2, t3]), np.concatenate([d1, d2, d3])
        self._correct(rows, xyxy[dets])
        self._record_hits(rows, cls[dets], conf[dets])
        self._tracked[newly_lost] = False

        # Step 6: new tracks from unmatched high-score detections
        new_dets = rest_high[conf[rest_high] >= cfg.new_track_score]
        new_rows = self._add(xyxy[new_dets], cls[new_dets], conf[new_dets])
        rows, dets = np.concatenate([rows, new_rows]), np.concatenate([dets, new_dets])

        # Step 7: evict unmatched unconfirmed, expired lost and duplicate tracks; output the rest
        keep = self._frame - self._last_frame <= self.lost_buffer_frames
        keep[failed_unconfirmed] = False
        keep &= ~self._duplicates(keep)
        out = self._output(detections, rows, dets, keep)
        self._keep(keep)
        return out

    # --- steps ------------------------------------------------------------------------------------
    def _associate(
        self,
        track_rows: NDArray[np.int64],
        det_rows: NDArray[np.int64],
        track_xyxy: NDArray,
        det_xyxy: NDArray,
        det_score: NDArray | None,
        min_similarity: float,
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Matched (track rows, detection rows) between the given subsets."""
        score = None if det_score is None else det_score[det_rows].astype(np.float64)
        ti, di = _match(track_xyxy[track_rows], det_xyxy[det_rows], score, min_similarity)
        return track_rows[ti], det_rows[di]

    def _correct(self, rows: NDArray[np.int64], det_xyxy: NDArray) -> None:
        """Kalman update of the given track rows with their detections, in one batch."""
        if len(rows) == 0:
            return
        mean, cov = self._mean[rows], self._cov[rows]
        kalman_update(mean, cov, _xyxy_to_xyah(det_xyxy))
        self._mean[rows] = mean
        self._cov[rows] = cov

    def _output(
        self, detections: Detections, rows: NDArray[np.int64], dets: NDArray, keep: NDArray
    ) -> Detections:
        """Input rows ``dets`` matched to kept confirmed track rows ``rows``, in input order."""
        ok = self._confirmed[rows] & keep[rows]
        rows, dets = rows[ok], dets[ok].astype(np.int64)
        order = np.argsort(dets, kind="stable")
        rows, dets = rows[order], dets[order]
        out = detections[dets]
        out.tracker_id = self._id[rows].copy()
        out.class_id = np.argmax(self._votes[rows], axis=1).astype(np.int32)
        return out

    def _duplicates(self, keep: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Rows to drop: of a tracked/lost pair overlapping with IoU > 0.85, the shorter-lived one.

        As ByteTrack's ``remove_duplicate_stracks``: life is last matched frame - first frame, and
        on a tie the tracked one goes.
        """
        drop = np.zeros(len(self._id), bool)
        tracked = np.flatnonzero(keep & self._tracked)
        lost = np.flatnonzero(keep & ~self._tracked)
        if len(tracked) == 0 or len(lost) == 0:
            return drop
        boxes = _xyah_to_xyxy(self._mean[:, :4])
        ti, li = np.nonzero(box_iou(boxes[tracked], boxes[lost]) > _DUPLICATE_IOU)
        life = self._last_frame - self._start_frame
        lost_is_longer = life[tracked[ti]] <= life[lost[li]]
        drop[tracked[ti[lost_is_longer]]] = True
        drop[lost[li[~lost_is_longer]]] = True
        return drop
