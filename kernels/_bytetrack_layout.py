"""Layout of the ByteTrack state table and the step's status codes (no Numba import here).

Shared by the compiled step (``_bytetrack_nb``) and the tracker that owns the table, so the tracker
can read its state without importing Numba.
"""

from __future__ import annotations

# columns of the int64 track table (one row per track, rows in creation order)
ID, HITS, START, LAST, TRACKED, CONFIRMED = 0, 1, 2, 3, 4, 5
N_INT_COLUMNS = 6

# step status codes (first element of the step's returned tuple)
OK = 0
BAD_CLASS = 1  # a class_id < 0: nothing modified
GROW_VOTES = 2  # detail: class columns needed; nothing modified, grow and call again
LSAP_INVALID = 3  # a cost was NaN or -inf (scipy raises ValueError)
KALMAN_NOT_SPD = 4  # detail: row within the batch whose innovation covariance is not SPD
