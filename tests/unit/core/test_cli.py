from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from veeva_marketo_sync.cli import app

runner = CliRunner()


def test_help_teaches_the_first_run() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "vmsync topics create --config" in result.output
    assert "topics" in result.output


def test_topics_create_help_explains_idempotence() -> None:
    result = runner.invoke(app, ["topics", "create", "--help"])
    assert result.exit_code == 0
    assert "idempotently" in result.output
    assert "VMSYNC_" in result.output


def test_bad_config_names_the_key_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "veeva: {username: u, password: p}\n"
        "marketo: {base_url: 'https://x.mktorest.com', client_id: c, client_secret: s}\n"
        "kafka: {partitions: -3}\n"
    )
    result = runner.invoke(app, ["topics", "list", "--config", str(config)])
    assert result.exit_code == 2
    assert "kafka.partitions" in result.output
    assert "Traceback" not in result.output
