"""Market-1501 layout: names, reading, and building a set with disjoint train/test identities."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from reidcam.eval.build_set import (
    LabelledCrop,
    default_frame_labels,
    labelled_frame_crops,
    search_output_crops,
    split_identities,
    write_market_set,
)
from reidcam.eval.dataset import DatasetError, labels, load_market, market_name, parse_market_name


@pytest.mark.parametrize(
    ("name", "pid", "cam"),
    [
        ("0001_c1s1_001051_00.jpg", 1, 1),
        ("-1_c3s2_000100_01.jpg", -1, 3),
        ("0000_c6s4_0_00.jpg", 0, 6),
        ("1234_c12s1_5_00.jpg", 1234, 12),
    ],
)
def test_parse_market_name(name, pid, cam):
    assert parse_market_name(name) == (pid, cam)


def test_bad_name_raises():
    with pytest.raises(DatasetError, match="Market-1501"):
        parse_market_name("person.jpg")


def test_market_name_round_trips():
    assert market_name(1, 1, 1, 1051, 0) == "0001_c1s1_001051_00.jpg"
    assert market_name(-1, 2, 3, 7, 1) == "-1_c2s3_000007_01.jpg"
    assert parse_market_name(market_name(42, 5, 1, 3, 0)) == (42, 5)


def _crop(colour):
    return np.full((40, 20, 3), colour, np.uint8)


def test_load_market(tmp_path):
    for split, name in [
        ("query", "0001_c1s1_000001_00.jpg"),
        ("bounding_box_test", "0001_c2s1_000002_00.jpg"),
        ("bounding_box_test", "0000_c1s1_000002_00.jpg"),
        ("bounding_box_test", "-1_c1s1_000003_00.jpg"),
    ]:
        (tmp_path / split).mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / split / name), _crop(100))
    (tmp_path / "query" / "notes.txt").write_text("ignored")
    data = load_market(tmp_path)
    assert len(data.query) == 1 and len(data.gallery) == 3 and data.train == []
    pids, cams = labels(data.gallery)
    assert sorted(pids.tolist()) == [-1, 0, 1] and cams.dtype == np.int64


def test_load_market_errors(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_market(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no images"):
        load_market(tmp_path)


def test_split_identities_is_seeded_and_forced():
    ids = [f"p{i}" for i in range(20)]
    a = split_identities(ids, 0.5, seed=3, force_test=["p7"])
    assert a == split_identities(reversed(ids), 0.5, seed=3, force_test=["p7"])
    assert len(a) == 10 and "p7" in a
    assert split_identities(ids, 0.0) == set()


def test_write_market_set_splits_by_identity(tmp_path):
    crops = [
        LabelledCrop(_crop(10 * i), ident, cam, 1, frame)
        for i, (ident, cam, frame) in enumerate(
            [("a", 1, 1), ("a", 1, 2), ("a", 2, 3), ("b", 1, 1), ("b", 2, 2), ("c", 1, 1), ("c", 1, 1)]
        )
    ]
    summary = write_market_set(crops, tmp_path, test_ids={"a", "b"})
    data = load_market(tmp_path)
    # one query per (test identity, camera), the earliest frame
    assert sorted(i.path.name for i in data.query) == [
        "0001_c1s1_000001_00.jpg",
        "0001_c2s1_000003_00.jpg",
        "0002_c1s1_000001_00.jpg",
        "0002_c2s1_000002_00.jpg",
    ]
    assert [i.path.name for i in data.gallery] == ["0001_c1s1_000002_00.jpg"]
    # two crops of c in the same frame get distinct names
    assert [i.path.name for i in data.train] == ["0003_c1s1_000001_00.jpg", "0003_c1s1_000001_01.jpg"]
    assert summary["identities"] == {"train": 1, "test": 2}
    assert json.loads((tmp_path / "dataset.json").read_text())["pids"] == {"a": 1, "b": 2, "c": 3}


def test_labelled_frames_and_queries(tmp_path):
    (tmp_path / "frames").mkdir()
    (tmp_path / "query").mkdir()
    frame = np.zeros((100, 100, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "frames" / "c1s1_000010.jpg"), frame)
    cv2.imwrite(str(tmp_path / "frames" / "c3s1_000020.jpg"), frame)
    cv2.imwrite(str(tmp_path / "query" / "0007_c6s1_000030_00.jpg"), _crop(50))
    cv2.imwrite(str(tmp_path / "query" / "0008_c6s1_000030_00.jpg"), _crop(50))  # someone else
    lab = {
        "identity": "market-0007",
        "boxes": {
            "c1s1_000010.jpg": [10, 10, 30, 60],
            "c3s1_000020.jpg": [0, 0, 5, 5],
            "c1s1_999999.jpg": [0, 0, 5, 5],
        },
        "partly_visible": ["c3s1_000020.jpg"],
    }
    crops = labelled_frame_crops(tmp_path, lab)
    assert [(c.camera, c.frame, c.image.shape[:2]) for c in crops] == [(1, 10, (50, 20)), (6, 30, (40, 20))]
    assert {c.identity for c in crops} == {"market-0007"}


def test_shipped_labels_are_the_market_woman():
    lab = default_frame_labels()
    assert lab["identity"] == "market-0001" and len(lab["boxes"]) == 16


def test_search_output_confirmed_matches(tmp_path):
    out = tmp_path / "run1"
    (out / "match_detections").mkdir(parents=True)
    rows = []
    for i, (cam, verdict, kept) in enumerate(
        [("c1", "match", True), ("c3", "match", True), ("c3", "match", False), ("c1", "no_match", False)]
    ):
        name = f"{cam}_f{i:06d}_d00_t1.jpg"
        rows.append(
            {
                "camera_id": cam,
                "frame": {"index": i, "name": None},
                "verdict": verdict,
                "query_id": "anna",
                "crop": f"query_images/{name}",
            }
        )
        if kept:
            cv2.imwrite(str(out / "match_detections" / name), _crop(80))
    (out / "matches.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    crops = search_output_crops([out])
    assert [(c.identity, c.camera, c.frame) for c in crops] == [("run1/anna", 1, 0), ("run1/anna", 2, 1)]
    with pytest.raises(DatasetError, match=r"matches\.jsonl"):
        search_output_crops([tmp_path])
