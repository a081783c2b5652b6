"""BrokerClient against a real nats-server: bounded first connect, one clear error, reconnects."""

from __future__ import annotations

import logging
import time

import pytest
from nats_support import NatsServer, broker_config, free_port, need_nats_server

from reidcam.broker.connection import BrokerClient
from reidcam.broker.errors import BrokerError, BrokerUnavailableError
from reidcam.core.errors import ConfigError

pytestmark = pytest.mark.broker
SECRET = "s3cr3t-pa55word"


def test_connects_and_round_trips(client):
    async def echo() -> bytes:
        sub = await client.nc.subscribe("t.echo")
        await client.nc.publish("t.echo", b"hi")
        msg = await sub.next_msg(timeout=2)
        await sub.unsubscribe()
        return msg.data

    assert client.call(echo()) == b"hi"
    st = client.status()
    assert st.state == "connected" and st.reconnects == 0 and client.generation == 1


def test_unreachable_url_is_one_redacted_error_line(caplog):
    cfg = broker_config(f"nats://cam:{SECRET}@127.0.0.1:{free_port()}", connect_attempts=3)
    client = BrokerClient(cfg)
    t0 = time.monotonic()
    with (
        caplog.at_level(logging.DEBUG, logger="reidcam.broker"),
        pytest.raises(BrokerUnavailableError) as err,
    ):
        client.connect()
    msg = str(err.value)
    assert "\n" not in msg and "after 3 attempts" in msg and "127.0.0.1" in msg
    assert SECRET not in msg and SECRET not in caplog.text
    # three tries, 0.2 s apart: bounded, not forever
    assert time.monotonic() - t0 < 5.0
    assert client.status().state == "idle" and client.status().last_error
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)
    with pytest.raises(BrokerError, match="not running"):
        client.call(_noop())


async def _noop() -> None:
    return None


def test_secrets_never_in_status_or_scrubbed_text(nats_server):
    cfg = broker_config(nats_server.url, token=SECRET)
    with BrokerClient(cfg) as c:
        assert SECRET not in str(c.status().as_dict())
        assert c.scrub(f"oops {SECRET} nats://u:{SECRET}@h") == "oops *** nats://u:***@h"


def test_user_password_auth_and_a_wrong_password(tmp_path):
    need_nats_server()
    srv = NatsServer(tmp_path, extra_args=("--user", "cam", "--pass", SECRET)).start()
    try:
        with BrokerClient(broker_config(srv.url, user="cam", password=SECRET)) as c:
            assert c.connected
        with pytest.raises(BrokerUnavailableError, match="uthorization") as err:
            BrokerClient(broker_config(srv.url, user="cam", password="wrong-" + SECRET)).connect()
        assert SECRET not in str(err.value)
    finally:
        srv.stop()


def test_missing_creds_file_is_a_config_error(tmp_path, nats_server):
    cfg = broker_config(nats_server.url, creds_file=str(tmp_path / "none.creds"))
    with pytest.raises(ConfigError, match=r"creds_file: no such file"):
        BrokerClient(cfg).connect()


def test_reconnects_by_itself_after_a_restart(own_nats_server):
    with BrokerClient(broker_config(own_nats_server.url)) as c:
        own_nats_server.stop()
        _wait(lambda: c.status().state == "reconnecting", 5.0)
        assert c.status().disconnected_for_s is not None
        own_nats_server.start()
        _wait(lambda: c.connected, 10.0)
        st = c.status()
        assert st.reconnects == 1 and c.generation == 2 and st.disconnected_for_s is None


def test_call_from_the_loop_thread_is_refused(client):
    async def nested() -> None:
        client.call(_noop())

    with pytest.raises(RuntimeError, match="deadlock"):
        client.call(nested())


def _wait(cond, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
