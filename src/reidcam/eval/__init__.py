"""Accuracy: ReID ranking metrics, tracking metrics, threshold calibration, fine-tuning.

Importing this package imports nothing heavy; each module imports its own dependencies
(matplotlib, trackeval, torch, onnx) lazily where it needs them.
"""
