import numpy as np
import pytest

from reidcam.core import Detections, Embeddings, Frame, Tracks, l2_normalize
from reidcam.core.geometry import clip_boxes, iou_matrix, touches_border


def _img(h=20, w=30):
    return np.zeros((h, w, 3), np.uint8)


def test_frame_rejects_bad_images():
    Frame("cam", 0, _img(), 0.0)
    with pytest.raises(ValueError, match="uint8"):
        Frame("cam", 0, np.zeros((4, 4, 3), np.float32), 0.0)
    with pytest.raises(ValueError, match="shape"):
        Frame("cam", 0, np.zeros((4, 4), np.uint8), 0.0)
    with pytest.raises(ValueError, match="shape"):
        Frame("cam", 0, np.zeros((0, 4, 3), np.uint8), 0.0)
    with pytest.raises(ValueError, match="camera_id"):
        Frame("", 0, _img(), 0.0)


def test_detections_validate_shape_order_and_finiteness():
    d = Detections(np.array([[0, 0, 10, 20]]), np.array([0.9]))
    assert d.xyxy.dtype == np.float32 and len(d) == 1
    with pytest.raises(ValueError, match="x2 < x1"):
        Detections(np.array([[10, 0, 5, 20]]), np.array([0.9]))
    with pytest.raises(ValueError, match="NaN"):
        Detections(np.array([[0, 0, np.nan, 20]]), np.array([0.9]))
    with pytest.raises(ValueError, match="confidence"):
        Detections(np.array([[0, 0, 10, 20]]), np.array([0.9, 0.8]))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        Detections(np.zeros((2, 3)), np.zeros(2))
    assert len(Detections.empty()) == 0


def test_tracks_validate_unique_ids_and_lengths():
    t = Tracks(np.array([1, 2]), np.array([[0, 0, 1, 1], [1, 1, 2, 2]]), np.ones(2), np.array([0, -1]))
    assert t.track_id.dtype == np.int64 and len(t) == 2
    with pytest.raises(ValueError, match="unique"):
        Tracks(np.array([1, 1]), np.zeros((2, 4)), np.ones(2), np.array([0, 1]))
    with pytest.raises(ValueError, match="detection_index"):
        Tracks(np.array([1]), np.zeros((1, 4)), np.ones(1), np.array([0, 1]))


def test_embeddings_must_be_normalised_and_tagged():
    v = l2_normalize(np.random.default_rng(0).normal(size=(3, 8)))
    e = Embeddings(v, "m")
    assert e.dim == 8 and len(e) == 3
    with pytest.raises(ValueError, match="L2"):
        Embeddings(v * 2, "m")
    with pytest.raises(ValueError, match="model_id"):
        Embeddings(v, "")
    with pytest.raises(ValueError, match="NaN"):
        Embeddings(np.full((1, 8), np.nan), "m")
    assert Embeddings.empty(8, "m").vectors.shape == (0, 8)


def test_geometry_helpers():
    boxes = np.array([[-5, -5, 50, 50], [0, 0, 10, 10]], np.float32)
    clipped = clip_boxes(boxes, 40, 30)
    assert clipped.tolist()[0] == [0, 0, 40, 30]
    iou = iou_matrix(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
    assert np.allclose(iou, [[1.0, 1 / 3, 0.0]], atol=1e-6)
    assert touches_border(np.array([[0, 5, 10, 10], [5, 5, 10, 10]]), 100, 100).tolist() == [True, False]
