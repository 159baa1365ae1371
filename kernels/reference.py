"""Plain-NumPy references of every compiled kernel, same signatures as the public wrappers.

They define what the kernels compute: parity tests compare each kernel against its reference on
fixed and seeded random inputs, and benchmarks report speed as a ratio against them.
"""

from __future__ import annotations

from carbonedge.kernels._ref_boxes import *  # noqa: F401,F403
from carbonedge.kernels._ref_bytetrack import *  # noqa: F401,F403
from carbonedge.kernels._ref_camera_moved import *  # noqa: F401,F403
from carbonedge.kernels._ref_decode import *  # noqa: F401,F403
from carbonedge.kernels._ref_fire import *  # noqa: F401,F403
from carbonedge.kernels._ref_gfl import *  # noqa: F401,F403
from carbonedge.kernels._ref_headlights import *  # noqa: F401,F403
from carbonedge.kernels._ref_hj212 import *  # noqa: F401,F403
from carbonedge.kernels._ref_kalman import *  # noqa: F401,F403
from carbonedge.kernels._ref_kinematics import *  # noqa: F401,F403
from carbonedge.kernels._ref_loops import *  # noqa: F401,F403
from carbonedge.kernels._ref_motion import *  # noqa: F401,F403
from carbonedge.kernels._ref_preprocess import *  # noqa: F401,F403
from carbonedge.kernels._ref_smoke_change import *  # noqa: F401,F403
