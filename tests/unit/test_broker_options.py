"""What the broker client hands nats-py: credentials, TLS files checked with clear errors."""

from __future__ import annotations

import ssl

import pytest

from reidcam.broker.connection import connect_options, failure_reason
from reidcam.config.schema import BrokerConfig
from reidcam.core.errors import ConfigError


def test_credentials_and_bounded_first_connect():
    opts = connect_options(BrokerConfig(url="nats://h:4222", user="u", password="pw", connect_attempts=4))
    assert (opts["user"], opts["password"], opts["servers"]) == ("u", "pw", ["nats://h:4222"])
    assert opts["max_reconnect_attempts"] == 3 and opts["allow_reconnect"] and "tls" not in opts
    assert connect_options(BrokerConfig(url="nats://h", token="tk"))["token"] == "tk"


def test_tls_url_gets_a_default_context_and_missing_files_are_named(tmp_path):
    assert isinstance(connect_options(BrokerConfig(url="tls://h:4222"))["tls"], ssl.SSLContext)
    missing = tmp_path / "ca.pem"
    with pytest.raises(ConfigError, match=r"tls\.ca_file: no such file .*ca\.pem"):
        connect_options(BrokerConfig(url="tls://h", tls={"ca_file": missing}))
    missing.write_text("not a certificate")
    with pytest.raises(ConfigError, match="cannot load the TLS files"):
        connect_options(BrokerConfig(url="tls://h", tls={"ca_file": missing}))


def test_no_url_is_a_config_error():
    with pytest.raises(ConfigError, match=r"broker\.url is not set"):
        connect_options(BrokerConfig())


def test_failure_reason_prefers_what_the_server_said():
    auth = "nats: 'Authorization Violation'"
    assert failure_reason([auth, "[Errno 104] Connection reset by peer"], "x") == auth
    assert failure_reason(["timed out", "[Errno 111] refused"], "x") == "[Errno 111] refused"
    assert failure_reason([], "nats: no servers available for connection").startswith("nats: no servers")
