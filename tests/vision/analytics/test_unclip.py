"""Border-cut boxes are extended to the track's last full size, and only those."""

from __future__ import annotations

import numpy as np
from conftest import make_detections, make_frame

from carbonedge.vision.analytics.unclip import BorderUnclipper


def test_cut_boxes_grow_back_to_the_remembered_size() -> None:
    unclip = BorderUnclipper()
    frame = make_frame()  # 320 x 240
    whole = make_detections([[50, 100, 90, 130], [200, 200, 260, 230]], tracker_id=np.array([1, 2]))
    out = unclip.apply(whole, frame)
    np.testing.assert_array_equal(out.xyxy, whole.xyxy)  # nothing cut: unchanged
    cut = make_detections([[0, 100, 15, 130], [250, 215, 310, 240]], tracker_id=np.array([1, 2]))
    out = unclip.apply(cut, frame)
    np.testing.assert_allclose(out.xyxy, [[-25, 100, 15, 130], [250, 215, 310, 245]])
    np.testing.assert_array_equal(cut.xyxy[0], [0, 100, 15, 130])  # the input is not modified


def test_unknown_size_and_untracked_rows_are_left_alone() -> None:
    unclip = BorderUnclipper()
    cut = make_detections([[0, 100, 15, 130], [0, 10, 20, 40]], tracker_id=np.array([7, -1]))
    out = unclip.apply(cut, make_frame())
    np.testing.assert_array_equal(out.xyxy, cut.xyxy)
    unclip.forget([7])
    assert unclip.tracked_state_count == 0
