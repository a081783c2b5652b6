"""Fixtures for the web app tests: fake models, synthetic looping cameras, a temp data dir
and an identity memory on a temp SQLite database in it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import IDENTITY_SETTINGS, fake_camera, fake_cameras, fake_check_source, fake_config

from reidcam.identity import IdentityMemory
from reidcam.testing.models import fake_models
from reidcam.web import Services, create_app


@pytest.fixture
def make_memory(tmp_path: Path) -> Iterator[Callable[..., IdentityMemory]]:
    """Opens the identity memory on a temp SQLite database in a data dir; closes them all after."""
    opened: list[IdentityMemory] = []

    def make(data_dir: Path | None = None) -> IdentityMemory:
        memory = IdentityMemory.open(data_dir or tmp_path / "data", settings=IDENTITY_SETTINGS)
        opened.append(memory)
        return memory

    yield make
    for memory in opened:
        memory.close()


@pytest.fixture
def make_services(tmp_path: Path, make_memory: Callable[..., IdentityMemory]) -> Callable[..., Services]:
    def make(**kwargs: object) -> Services:
        fields: dict[str, object] = {
            "models": fake_models(),
            "build_cameras": fake_cameras,
            "build_camera": fake_camera,
            "check_source": fake_check_source,
            "data_dir": tmp_path / "data",
        }
        fields.update(kwargs)
        if "memory" not in fields:
            fields["memory"] = make_memory(Path(fields["data_dir"]))  # type: ignore[arg-type]
        return Services(**fields)  # type: ignore[arg-type]

    return make


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(fake_config(), services)) as c:
        yield c
