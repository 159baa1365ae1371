"""The technician's side of calibration as a service: ``carbonedge calibrate ...`` commands, the
calibration web page, and the records a running site uses (``active``). The calibration maths and
records themselves live in ``carbonedge.calibration``."""
