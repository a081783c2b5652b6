"""`reidcam cameras`: the registry the workers lease from, from the command line, against a real
nats-server. A password in a source is refused before anything is written."""

from __future__ import annotations

import pytest
from nats_support import NatsServer, broker_config

from reidcam.broker.connection import BrokerClient
from reidcam.broker.leases import CameraRegistry
from reidcam.cli import main

pytestmark = pytest.mark.broker


def _registry(server: NatsServer) -> dict[str, dict[str, object]]:
    with BrokerClient(broker_config(server.url)) as client:
        return CameraRegistry(client).open().cameras()


def test_add_list_remove(nats_server: NatsServer, capsys: pytest.CaptureFixture[str]) -> None:
    url = nats_server.url
    assert main(["cameras", "--broker", url, "add", "lobby", "/videos/lobby.mp4", "--name", "Lobby"]) == 0
    assert main(["cameras", "--broker", url, "add", "gate", "rtsp://viewer:${GATE_PW}@10.0.0.7/live"]) == 0
    assert _registry(nats_server)["lobby"] == {"source": "/videos/lobby.mp4", "name": "Lobby"}
    assert _registry(nats_server)["gate"] == {"source": "rtsp://viewer:${GATE_PW}@10.0.0.7/live"}
    capsys.readouterr()
    assert main(["cameras", "--broker", url, "list"]) == 0
    listed = capsys.readouterr().out
    assert "lobby\t/videos/lobby.mp4\tLobby" in listed and "gate\t" in listed
    assert main(["cameras", "--broker", url, "remove", "lobby"]) == 0
    assert "lobby" not in _registry(nats_server)
    assert main(["cameras", "--broker", url, "remove", "lobby"]) == 2
    assert "no camera 'lobby'" in capsys.readouterr().err
    main(["cameras", "--broker", url, "remove", "gate"])


def test_a_password_in_a_source_is_refused_and_nothing_written(
    nats_server: NatsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["cameras", "--broker", nats_server.url, "add", "door", "rtsp://viewer:hunter22@10.0.0.8/x"])
    assert code == 2
    err = capsys.readouterr().err
    assert "holds a password" in err and "hunter22" not in err
    assert "door" not in _registry(nats_server)


def test_an_entry_a_worker_would_refuse_is_refused(nats_server: NatsServer) -> None:
    assert main(["cameras", "--broker", nats_server.url, "add", "bad id!", "/videos/x.mp4"]) == 2
    assert "bad id!" not in _registry(nats_server)
