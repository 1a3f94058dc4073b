from __future__ import annotations

from pathlib import Path

import pytest

from veeva_marketo_sync.errors import ConfigError
from veeva_marketo_sync.settings import load_settings

MINIMAL = """
veeva: {username: integration@veeva.example, password: s3cret-pass}
marketo: {base_url: "https://123-ABC-456.mktorest.com", client_id: cid, client_secret: top-secret}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vmsync.yaml"
    path.write_text(text)
    return path


def test_defaults_are_safe(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL))
    assert settings.sync.poll_interval_seconds == 300
    assert settings.sync.delete_policy == "flag"
    assert settings.kafka.replication_factor == 3
    assert settings.marketo.batch_size == 300
    assert settings.marketo.daily_reserve < settings.marketo.daily_quota


def test_environment_overrides_yaml_with_nested_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VMSYNC_KAFKA__BOOTSTRAP_SERVERS", "broker-1:9092,broker-2:9092")
    monkeypatch.setenv("VMSYNC_MARKETO__DAILY_QUOTA", "20000")
    settings = load_settings(write(tmp_path, MINIMAL + "kafka: {bootstrap_servers: x:1}\n"))
    assert settings.kafka.bootstrap_servers == "broker-1:9092,broker-2:9092"
    assert settings.marketo.daily_quota == 20000


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ("kafka: {partitions: 0}", "kafka.partitions", "greater than or equal to 1"),
        ("kafka: {topic_prefix: 'a b'}", "kafka.topic_prefix", "pattern"),
        ("sync: {poll_interval_seconds: -5}", "sync.poll_interval_seconds", "greater than 0"),
        ("sync: {delete_policy: purge}", "sync.delete_policy", "'ignore', 'flag' or 'delete'"),
        ("sync: {objects: [Account, Lead]}", "sync.objects", "Veeva CRM does not use Leads"),
        ("sync: {custom_objects: [Opportunity]}", "sync.custom_objects", "not supported"),
        ("sync: {objects: [Contact]}", "sync.objects", "Person Accounts"),
        ("sync: {objects: [Task]}", "sync.objects", "Task activities are not synced"),
        ("sync: {objects: [Event]}", "sync.objects", "not supported"),
        ("sync: {objects: [Campaign]}", "sync.objects", "not supported"),
        ("bogus: 1", "bogus", "Extra inputs are not permitted"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, extra: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, MINIMAL + extra + "\n"))
    message = str(info.value)
    assert f"  {key}" in message
    assert words in message


def test_missing_section_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"marketo: Field required"):
        load_settings(write(tmp_path, "veeva: {username: u, password: p}\n"))


def test_secrets_are_hidden_in_errors_and_reprs(tmp_path: Path) -> None:
    bad = MINIMAL.replace("client_id: cid", "client_id: 5") + "marketo_x: 1\n"
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, bad + "kafka: {sasl_password: hunter2, partitions: 0}\n"))
    assert "hunter2" not in str(info.value)
    settings = load_settings(write(tmp_path, MINIMAL))
    assert "s3cret-pass" not in repr(settings)
    assert "top-secret" not in repr(settings)


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "veeva: [unclosed\n"))
