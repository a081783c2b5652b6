"""Fixtures for the web app tests: fake models, synthetic looping cameras, a temp data dir."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import fake_cameras, fake_config, fake_models

from reidcam.web import Services, create_app


@pytest.fixture
def make_services(tmp_path: Path) -> Callable[..., Services]:
    def make(**kwargs: object) -> Services:
        fields: dict[str, object] = {
            "models": fake_models(),
            "build_cameras": fake_cameras,
            "data_dir": tmp_path / "data",
        }
        fields.update(kwargs)
        return Services(**fields)  # type: ignore[arg-type]

    return make


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(fake_config(), services)) as c:
        yield c
