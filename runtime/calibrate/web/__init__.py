"""The technician's calibration page, served by the box itself (``carbonedge calibrate serve``).

``server`` is the small token-protected HTTP server and its CLI; ``session`` holds what the page
does (snapshot, homography fit, signed save) without HTTP; ``static/`` is the plain HTML/JS/CSS.
"""
