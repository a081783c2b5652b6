"""``reidcam export``: PyTorch weights to ONNX / OpenVINO, each conversion checked against its source.

A converted model is only written when its outputs agree with the original's on the same
inputs (ReID: cosine similarity per crop; detector: the same person boxes); otherwise the
files are removed and the error says by how much they disagreed.
"""

from reidcam.export.detector import export_detector
from reidcam.export.reid import export_reid

__all__ = ["export_detector", "export_reid"]
