"""The real thing in headless Chromium: real server, real models, two Market-1501 cameras.

Starts ``reidcam serve`` as a user would, presses Start detection, clicks the
crop of the woman in the white dress (Market id 0001) in the gallery, and sees
her matched in both camera panels and in the matches list. Needs the Debian
``chromium`` package and the ``playwright`` Python package (never a downloaded
browser), and the assets from ``REIDCAM_WEIGHTS_DIR`` / ``REIDCAM_MEDIA_DIR``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.models]

# Hand-checked boxes (xyxy, frame pixels) of the woman in the white dress.
WOMAN_QUERY_BOX = ("c1s1_001051.jpg", (1215, 430, 1370, 749))
WOMAN_BOXES = {
    "c1s1_001051.jpg": (1215, 430, 1370, 749),
    "c1s1_002301.jpg": (843, 445, 950, 707),
    "c3s1_000501.jpg": (989, 426, 1063, 601),
    "c3s1_000551.jpg": (1159, 427, 1220, 616),
    "c3s1_001626.jpg": (1615, 421, 1714, 624),
}
REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 180
MATCH_TIMEOUT_MS = 90_000

# IoU of the box in data-xyxy with a given box; used inside the page.
_IOU_JS = """
(xyxy, b) => {
  const a = xyxy.split(",").map(Number);
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}
"""


def _env_dir(var: str) -> Path:
    value = os.environ.get(var)
    if not value or not Path(value).is_dir():
        pytest.skip(
            f"{var} is not set to a folder: point it at the verified assets (CI: ../shared/assets/...)"
        )
    return Path(value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def output_dir() -> Path:
    """Where the screenshot and server log go: $REIDCAM_TEST_OUTPUT or ./test-output, then browser/."""
    out = Path(os.environ.get("REIDCAM_TEST_OUTPUT", REPO / "test-output")) / "browser"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"reidcam serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/api/status", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"reidcam serve did not answer within {STARTUP_S} s:\n{log.read_text()[-3000:]}")


def _config_with_calibration(folder: Path) -> Path:
    """A config naming a calibration of the real ReID model, so the page shows one.

    The pairs are synthetic (the demo media hold too few people to calibrate on); the
    threshold and band stay the model's own, so matching is what users get by default.
    """
    import numpy as np

    from reidcam.config import AppConfig
    from reidcam.match.calibration import PairScores, calibrate, save_calibration
    from reidcam.pipeline.build import default_threshold

    cfg = AppConfig()
    rng = np.random.default_rng(0)
    same = np.clip(rng.normal(0.8, 0.08, 2000), -1, 1).astype(np.float32)
    different = np.clip(rng.normal(0.35, 0.12, 20000), -1, 1).astype(np.float32)
    cal = calibrate(PairScores(same, different), cfg.reid.model, 0.01, data="synthetic pairs (UI test)")
    save_calibration(cal, folder)
    matcher = {"calibration": str(folder), "threshold": default_threshold(cfg), "uncertain_band": 0.05}
    path = folder / "reidcam.yaml"
    path.write_text(json.dumps({"matcher": matcher}), encoding="utf-8")  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, output_dir: Path) -> Iterator[tuple[str, Path]]:
    """``reidcam serve`` on the Market-1501 c1 and c3 frames as two looping cameras."""
    weights, media = _env_dir("REIDCAM_WEIGHTS_DIR"), _env_dir("REIDCAM_MEDIA_DIR")
    frames = media / "market1501_2cam" / "frames"
    if not frames.is_dir():
        pytest.skip(f"{frames} is missing: the Market-1501 demo frames are part of the test media")
    data_dir = tmp_path_factory.mktemp("reidcam-data")
    port = _free_port()
    cmd = [
        *(sys.executable, "-m", "reidcam.cli", "--log-level", "INFO", "serve"),
        *("--port", str(port), "--data-dir", str(data_dir), "--fps", "2", "--weights-dir", str(weights)),
        *("--source", f"c1={frames}/c1s1_*.jpg", "--source", f"c3={frames}/c3s1_*.jpg"),
        *("--config", str(_config_with_calibration(tmp_path_factory.mktemp("calibration")))),
    ]
    log = output_dir / "server.log"
    env = {**os.environ, "YOLO_AUTOINSTALL": "false", "YOLO_OFFLINE": "true"}
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc, log)
        yield url, data_dir
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("reidcam serve did not stop within 30 s of Ctrl-C")


def test_pick_the_woman_and_see_her_matched_on_both_cameras(
    server: tuple[str, Path], output_dir: Path, browser: Any, expect: Any
) -> None:

    url, data_dir = server
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url, wait_until="domcontentloaded")
    expect(page.locator("section.camera")).to_have_count(2)
    page.get_by_role("button", name="Start detection").click()
    expect(page.locator("#run-state")).to_have_text("running", timeout=15_000)
    expect(page.locator("#device")).to_have_text("cpu")  # where the models run (performance.device)

    # Her crop from frame c1s1_001051.jpg appears in the gallery: click it.
    name, box = WOMAN_QUERY_BOX
    crop_id = page.wait_for_function(
        f"""() => {{
            const iou = {_IOU_JS};
            const imgs = [...document.querySelectorAll('img.crop[data-frame-name="{name}"]')];
            const hit = imgs.find((i) => i.complete && iou(i.dataset.xyxy, {list(box)}) > 0.5);
            return hit ? hit.dataset.cropId : null;
        }}""",
        timeout=MATCH_TIMEOUT_MS,
    ).json_value()
    page.locator(f'img.crop[data-crop-id="{crop_id}"]').click()
    expect(page.locator("#query .query-images img")).to_have_count(1, timeout=15_000)

    # She is labelled in both camera panels and listed in the matches.
    for cam in ("c1", "c3"):
        panel = page.locator(f'section.camera[data-camera-id="{cam}"]')
        expect(panel).to_have_attribute("data-matched", "true", timeout=MATCH_TIMEOUT_MS)
        expect(panel.locator(".seen")).to_contain_text("seen", timeout=5_000)
        match = page.locator(f'#matches li.match[data-verdict="match"][data-camera-id="{cam}"]')
        expect(match.first).to_be_visible(timeout=MATCH_TIMEOUT_MS)
    # The c3 match is really her: its box is one of her hand-checked boxes.
    c3_boxes = json.dumps({k: list(v) for k, v in WOMAN_BOXES.items() if k.startswith("c3")})
    page.wait_for_function(
        f"""() => {{
            const iou = {_IOU_JS};
            const boxes = {c3_boxes};
            const sel = '#matches li.match[data-verdict="match"][data-camera-id="c3"]';
            const items = [...document.querySelectorAll(sel)];
            return items.some((li) => {{
                const box = boxes[li.dataset.frameName];
                return box && iou(li.dataset.xyxy, box) > 0.5;
            }});
        }}""",
        timeout=MATCH_TIMEOUT_MS,
    )
    # Each match shows its evidence: the person's crop beside the query image that vouched.
    query_src = page.locator("#query .query-images img").first.get_attribute("src")
    evidence = page.locator('#matches li.match[data-verdict="match"] .evidence').first
    expect(evidence.locator("img.seen")).to_be_visible()
    expect(evidence.locator("img.query-view")).to_have_attribute("src", query_src or "")
    _check_calibration_beside_the_slider(page)
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.move(0, 0)
    page.wait_for_timeout(1500)  # let the streams show a frame with her red box
    page.screenshot(path=str(output_dir / "ui-match.png"))

    assert (data_dir / "query" / "query.jpg").is_file()
    for folder in ("query_images", "match_detections", "detections"):
        assert any((data_dir / folder).glob("*.jpg")), f"nothing saved in {folder}/"


def _check_calibration_beside_the_slider(page: Any) -> None:
    """The calibration is shown where the threshold is set, and follows the slider."""
    from playwright.sync_api import expect

    text = page.locator("#calibration-text")
    expect(text).to_contain_text("false matches")
    expect(page.locator("#calibration-hist rect.same").first).to_be_attached()
    expect(page.get_by_role("button", name="use calibrated")).to_be_visible()
    at_threshold = float(text.get_attribute("data-fmr") or "nan")
    page.evaluate(
        """() => {
            const th = document.querySelector("#threshold");
            th.value = "0.3";
            th.dispatchEvent(new Event("input"));
        }"""
    )  # dragging only: no "change", so the server keeps its threshold
    expect(text).not_to_have_attribute("data-fmr", str(at_threshold))
    assert float(text.get_attribute("data-fmr") or "nan") > at_threshold
    page.evaluate(
        """() => {
            const th = document.querySelector("#threshold");
            th.value = "0.65";
            th.dispatchEvent(new Event("input"));
        }"""
    )
