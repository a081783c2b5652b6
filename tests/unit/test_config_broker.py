"""The ``broker:`` section: URL checks, credentials from ${ENV}, secrets never printed."""

from __future__ import annotations

import pytest

from reidcam.config import parse_config
from reidcam.core.errors import ConfigError

SECRET = "hunter2-very-secret"


def _broker(text: str, env: dict[str, str] | None = None):
    return parse_config("broker:\n" + text, env=env or {}).broker


def test_no_broker_by_default():
    cfg = parse_config("")
    assert cfg.broker.url is None and not cfg.broker.enabled
    assert cfg.broker.describe()["auth"] == "none"


def test_user_password_from_env_never_printed():
    b = _broker(
        "  url: nats://127.0.0.1:4222\n  user: cam\n  password: ${NATS_PW}\n",
        env={"NATS_PW": SECRET},
    )
    assert b.enabled and b.password is not None and b.password.get_secret_value() == SECRET
    assert SECRET not in repr(b) and SECRET not in str(b.model_dump()) and SECRET not in str(b.describe())
    assert b.describe() == {
        "url": "nats://127.0.0.1:4222",
        "name": "reidcam",
        "auth": "user/password",
        "user": "cam",
        "tls": False,
    }


def test_credentials_in_url_move_into_secret_fields():
    b = _broker("  url: nats://cam:${NATS_PW}@broker.local:4222\n", env={"NATS_PW": SECRET})
    assert b.url == "nats://broker.local:4222" and b.user == "cam"
    assert b.password is not None and b.password.get_secret_value() == SECRET
    assert SECRET not in repr(b)
    t = _broker("  url: tls://${TOK}@broker.local\n", env={"TOK": SECRET})
    assert t.url == "tls://broker.local" and t.token is not None and t.token.get_secret_value() == SECRET
    assert t.describe()["auth"] == "token" and t.describe()["tls"] is True
    assert SECRET not in repr(t)


def test_percent_escaped_password_in_url_is_decoded():
    b = _broker("  url: nats://cam:p%40ss@h:4222\n")
    assert b.password is not None and b.password.get_secret_value() == "p@ss"


def test_credentials_in_url_and_fields_conflict():
    with pytest.raises(ConfigError, match=r"both in broker\.url") as err:
        _broker("  url: nats://cam:pw@h:4222\n  token: ${TOK}\n", env={"TOK": SECRET})
    assert SECRET not in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("  url: http://h:4222\n", "not a NATS URL"),
        ("  url: nats://\n", "not a NATS URL"),
        ("  url: nats://h:99999\n", "invalid port"),
        ("  url: nats://h\n  user: cam\n", "go together"),
        ("  url: nats://h\n  user: cam\n  password: pw\n  token: tk\n", "choose one"),
        ("  url: nats://h\n  token: tk\n  creds_file: /x.creds\n", "choose one"),
        ("  token: tk\n", "broker.url is not"),
        ("  url: nats://h\n  tls: {cert_file: /c.pem}\n", "go together"),
        ("  url: nats://h\n  lease_ttl_s: 0.1\n", "lease_ttl_s"),
        ("  url: nats://h\n  urls: [nats://x]\n", "broker.urls"),
    ],
)
def test_bad_broker_config_is_a_clear_error(text, message):
    with pytest.raises(ConfigError, match=message):
        _broker(text)


def test_error_names_the_yaml_line():
    with pytest.raises(ConfigError, match=r"cfg.yaml:3: broker.connect_attempts"):
        parse_config("broker:\n  url: nats://h\n  connect_attempts: 0\n", origin="cfg.yaml")


def test_missing_env_var_is_named():
    with pytest.raises(ConfigError, match="NATS_PW"):
        _broker("  url: nats://h\n  user: u\n  password: ${NATS_PW}\n")


def test_tls_and_creds_file():
    b = _broker(
        "  url: tls://h:4222\n  creds_file: /etc/nats/w.creds\n"
        "  tls: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem}\n"
    )
    assert b.auth_kind == "creds file" and b.tls is not None and str(b.tls.key_file) == "/k.pem"


def test_round_trip_through_model_dump_keeps_the_secret():
    # commands rebuild the config from cfg.model_dump() (serve, eval, options)
    cfg = parse_config("broker:\n  url: nats://cam:${PW}@h:4222\n  lease_ttl_s: 5\n", env={"PW": SECRET})
    again = type(cfg).model_validate(cfg.model_dump())
    assert again.broker.url == "nats://h:4222" and again.broker.user == "cam"
    assert again.broker.password is not None and again.broker.password.get_secret_value() == SECRET
    assert SECRET not in str(cfg.model_dump(mode="json"))
