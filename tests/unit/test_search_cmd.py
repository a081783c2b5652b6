"""`reidcam search` end to end on rendered frames (real image files, real tracker, fake models):
several named people, reruns into the same folder, unusable sources, the uncertain folder."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidcam.cli import main
from reidcam.core.events import FrameResult, Observation
from reidcam.core.types import Frame, MatchDecision, Verdict
from reidcam.outputs.search_folders import SearchOutputSink
from reidcam.testing import FakeEmbedder, crop_of, render, two_camera_scene
from reidcam.testing.models import fake_models

ALICE, BOB = (30, 30, 220), (220, 60, 30)
N_FRAMES = 50


@pytest.fixture
def scene(tmp_path):
    """Two cameras as PNG folders (lossless: the fake embedder reads colours) and two query crops."""
    walkers = two_camera_scene()
    for cam in ("cam0", "cam1"):
        d = tmp_path / cam
        d.mkdir()
        for i, img in enumerate(render(walkers, cam, N_FRAMES)):
            cv2.imwrite(str(d / f"{i:06d}.png"), img)
    for name, colour in (("alice", ALICE), ("bob", BOB)):
        cv2.imwrite(str(tmp_path / f"{name}.png"), crop_of(colour))
    return tmp_path


@pytest.fixture
def fake_loading(monkeypatch):
    """The search command loads the fake models instead of weights; counts the loads."""
    loads = []

    def models(cfg, embedder=None, placement=None, data_dir=None):
        loads.append(cfg)
        return fake_models(embedder=embedder)

    embedder = lambda cfg, placement=None: FakeEmbedder()  # noqa: E731
    monkeypatch.setattr("reidcam.commands.search.build_embedder_from_config", embedder)
    monkeypatch.setattr("reidcam.commands.search.build_models", models)
    return loads


def _search(capsys, scene, out, *queries, sources=("cam0", "cam1")):
    argv = ["search", "--out", str(out), "--no-progress"]
    for q in queries:
        argv += ["--query", q]
    for cam in sources:
        argv += ["--source", f"{cam}={scene / cam}" if "=" not in cam else cam]
    code = main(argv)
    return code, capsys.readouterr()


def _lines(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "matches.jsonl").read_text().splitlines()]


def _files(folder: Path) -> int:
    return len(list(folder.glob("*.jpg"))) if folder.is_dir() else 0


def test_several_named_people_in_one_search(capsys, scene, fake_loading):
    out = scene / "out"
    code, cap = _search(capsys, scene, out, f"alice={scene / 'alice.png'}", f"bob={scene / 'bob.png'}")
    assert code == 0, cap.err
    lines = _lines(out)
    matched = [x for x in lines if x["matched"]]
    by_person = {p: [x for x in matched if x["query_id"] == p] for p in ("alice", "bob")}
    # Alice walks on both cameras, Bob only on cam0; each match names its person.
    assert {x["camera_id"] for x in by_person["alice"]} == {"cam0", "cam1"}
    assert {x["camera_id"] for x in by_person["bob"]} == {"cam0"}
    assert {x["query_id"] for x in matched} == {"alice", "bob"}
    for person, recs in by_person.items():
        assert _files(out / "match_detections" / person) == len(recs)
        assert all(x["sorted_crop"].startswith(f"match_detections/{person}/") for x in recs)
        assert (out / "query" / f"{person}.jpg").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["people"] == {"alice": len(by_person["alice"]), "bob": len(by_person["bob"])}
    assert json.loads(cap.out.strip().splitlines()[-1])["people"] == summary["people"]


def test_a_bare_query_is_one_unnamed_person(capsys, scene, fake_loading):
    out = scene / "out"
    code, cap = _search(capsys, scene, out, str(scene / "alice.png"), str(scene / "alice.png"))
    assert code == 0, cap.err
    matched = [x for x in _lines(out) if x["matched"]]
    assert matched and {x["query_id"] for x in matched} == {"query"}
    assert _files(out / "match_detections" / "query") == len(matched)
    assert (out / "query" / "query.jpg").is_file() and (out / "query" / "query_1.png").is_file()


def test_a_rerun_replaces_the_previous_results(capsys, scene, fake_loading):
    out = scene / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # a user's own file is left alone
    q = f"alice={scene / 'alice.png'}"
    assert _search(capsys, scene, out, q)[0] == 0
    first = _lines(out)
    code, cap = _search(capsys, scene, out, q, sources=("cam0",))
    assert code == 0 and "replacing the results of an earlier search" in cap.err
    lines = _lines(out)
    assert 0 < len(lines) < len(first) and {x["camera_id"] for x in lines} == {"cam0"}
    n_matched = sum(x["matched"] for x in lines)
    n_uncertain = sum(x["verdict"] == "uncertain" for x in lines)
    assert _files(out / "query_images") == len(lines)
    assert _files(out / "match_detections" / "alice") == n_matched
    assert _files(out / "uncertain_detections") == n_uncertain
    assert _files(out / "detections") == len(lines) - n_matched - n_uncertain
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cameras"] == {
        "cam0": {"detections": len(lines), "matched": n_matched, "uncertain": n_uncertain}
    }
    assert (out / "notes.txt").read_text() == "mine"


def test_a_folder_that_is_no_search_output_is_not_touched(capsys, scene, fake_loading):
    out = scene / "out"
    (out / "detections").mkdir(parents=True)
    (out / "detections" / "keep.jpg").write_bytes(b"x")
    code, cap = _search(capsys, scene, out, str(scene / "alice.png"))
    assert code == 2 and "not a reidcam search output" in cap.err
    assert (out / "detections" / "keep.jpg").read_bytes() == b"x"


def test_an_unusable_source_is_named_before_models_load(capsys, scene, fake_loading):
    code, cap = _search(
        capsys, scene, scene / "out", str(scene / "alice.png"), sources=(f"a={scene}/missing.mp4", "cam0")
    )
    assert code == 2
    err = [x for x in cap.err.splitlines() if x.startswith("reidcam: error:")]
    assert len(err) == 1 and "'a'" in err[0] and "missing.mp4" in err[0] and "Traceback" not in cap.err
    assert fake_loading == [] and not (scene / "out").exists()


def test_a_bad_person_name_is_refused(capsys, scene, fake_loading):
    code = main(["search", "--query", str(scene / "alice.png"), "--query-id", "../x", "--out", "o",
                 "--source", f"cam0={scene / 'cam0'}"])  # fmt: skip
    assert code == 2 and "--query-id" in capsys.readouterr().err


def _obs(i: int, verdict: Verdict | None, person: str | None = "alice") -> Observation:
    decision = None if verdict is None else MatchDecision(verdict, person, 0.7, None, None, 0.7, "test")
    crop = np.full((20, 10, 3), 100 + i, np.uint8)
    return Observation(i, np.array([0, 0, 10, 20], np.float32), 0.9, i, crop, True, "", decision)


def test_uncertain_detections_get_their_own_folder(tmp_path):
    sink = SearchOutputSink(tmp_path)
    frame = Frame("cam0", 3, np.zeros((40, 40, 3), np.uint8), 0.0)
    verdicts = [Verdict.MATCH, Verdict.UNCERTAIN, Verdict.NO_MATCH, None]
    sink.on_frame(FrameResult(frame, tuple(_obs(i, v) for i, v in enumerate(verdicts))))
    sink.close()
    folders = [Path(x["sorted_crop"]).parent.as_posix() for x in _lines(tmp_path)]
    assert folders == ["match_detections/alice", "uncertain_detections", "detections", "detections"]
    assert all((tmp_path / x["sorted_crop"]).is_file() for x in _lines(tmp_path))
