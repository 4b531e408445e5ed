from __future__ import annotations

import pytest

from cordon.settings import SettingsError, load_settings


def test_precedence_defaults_file_env_flags(tmp_path):
    cfg = tmp_path / "cordon.toml"
    cfg.write_text('http_port = 9000\nmqtt_url = "mqtt://file:1883"\nbatch_ms = 7\n')
    s = load_settings(cfg, env={"CORDON_MQTT_URL": "mqtt://u:p%40ss@env:1884"})
    assert (s.http_port, s.batch_ms, s.mqtt_url) == (9000, 7.0, "mqtt://u:p%40ss@env:1884")
    assert s.mqtt_parts() == ("env", 1884, "u", "p@ss")
    assert load_settings(cfg, env={}, http_port=1234).http_port == 1234
    assert load_settings(env={}).http_port == 8080


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("bogus = 1\n", {}, "unknown settings"),
        ("http_port = [\n", {}, "not valid TOML"),
        ("", {"CORDON_HTTP_PORT": "eighty"}, "http_port must be an integer"),
    ],
)
def test_bad_settings_say_what_is_wrong(tmp_path, text, env, message):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings(cfg, env=env)


def test_missing_config_file():
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings("/nonexistent/cordon.toml", env={})
