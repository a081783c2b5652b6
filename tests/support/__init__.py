"""Test support code: real local camera servers (MJPEG over HTTP, GStreamer RTSP) for fault tests.

Importable as ``support`` because pytest puts ``tests/`` on ``sys.path`` (pyproject). Not in the wheel.
"""
