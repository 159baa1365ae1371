"""The live page of the health server: each camera's latest annotated frame, counts, health.

``hub.LiveHub`` takes frames from the pipelines (cheaply: only while someone watches, otherwise
one every few seconds, and never drawn on the pipeline thread); ``page`` serves ``GET /``,
``/cameras/<id>/latest.jpg``, ``/cameras/<id>/stream.mjpg`` and ``/api/live`` from the health
server (``runtime/health_server.py``).
"""
