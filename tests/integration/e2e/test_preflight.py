"""`vmsync check` against both emulators: names what is missing on each side, then passes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from devstack import VMSYNC, running_emulators, write_config

pytestmark = pytest.mark.integration


def check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VMSYNC, "check", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )


def test_check_names_a_hidden_veeva_field_and_a_missing_marketo_field(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    with running_emulators(tmp_path, 20, skip=("veevaNPI",)) as emulators:
        with emulators.veeva() as veeva:
            veeva.put(
                "/__admin/hidden-fields/Account", json={"fields": ["Specialty_1_vod__c"]}
            ).raise_for_status()
        config = write_config(tmp_path / "vmsync.yaml", emulators, kafka_bootstrap)

        result = check(config)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Account.Specialty_1_vod__c" in result.stdout
        assert "not visible to the integration user" in result.stdout
        assert "veevaNPI" in result.stdout
        assert "missing" in result.stdout
        assert "Traceback" not in result.stdout + result.stderr

        with emulators.veeva() as veeva:
            veeva.put("/__admin/hidden-fields/Account", json={"fields": []}).raise_for_status()
        with emulators.marketo() as marketo:
            marketo.post(
                "/__admin/lead-fields", json={"name": "veevaNPI", "dataType": "string"}
            ).raise_for_status()

        result = check(config)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "ok" in result.stdout


def test_check_reports_bad_credentials_without_a_traceback(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    with running_emulators(tmp_path, 5) as emulators:
        config = write_config(
            tmp_path / "vmsync.yaml",
            emulators,
            kafka_bootstrap,
            extra={"marketo": {"client_secret": "wrong-secret-value"}},
        )
        result = check(config)
        assert result.returncode == 1
        assert "Marketo at" in result.stdout
        assert "wrong-secret-value" not in result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
