"""`identity.collect_track_crops`: `reidcam serve` keeps what `finetune --from-memory` learns from,
only when asked (they are more pictures of people)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import CAMERAS, wait_for

from reidcam.config import AppConfig
from reidcam.identity.track_crops import TRACK_FOLDER
from reidcam.web import Services, create_app

pytestmark = pytest.mark.timeout(60)


def _config(collect: bool) -> AppConfig:
    return AppConfig.model_validate(
        {
            "cameras": [{"id": c, "source": f"synthetic-{c}"} for c in CAMERAS],
            "identity": {"collect_track_crops": collect},
        }
    )


def _crops(services: Services) -> list[Path]:
    return sorted((services.data_dir / TRACK_FOLDER).rglob("*.jpg"))


@pytest.mark.parametrize("collect", [True, False])
def test_track_crops_are_kept_only_when_asked(collect: bool, make_services: Callable[..., Services]) -> None:
    services = make_services()
    with TestClient(create_app(_config(collect), services)) as client:
        assert client.post("/api/start").json()["running"] is True
        wait_for(lambda: all(c["frames_processed"] > 20 for c in client.get("/api/status").json()["cameras"]))
        client.post("/api/stop")
    crops = _crops(services)
    if collect:
        assert crops, "no track crop kept"
        cameras = {p.relative_to(services.data_dir / TRACK_FOLDER).parts[0] for p in crops}
        assert cameras == set(CAMERAS)
    else:
        assert crops == []
