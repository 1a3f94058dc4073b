"""The settings tree: one YAML file plus ``VMSYNC_*`` environment overrides.

Built once by the CLI and passed down; no other module reads the environment. Nested keys are
overridden with ``__``, e.g. ``VMSYNC_KAFKA__BOOTSTRAP_SERVERS=broker:9092``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigError
from .objects import unsupported_reason

_SECRET_WORDS = ("password", "secret", "token")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    """How to reach Kafka and how to lay out the topics."""

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "vmsync"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: SecretStr | None = None
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    partitions: int = Field(default=6, ge=1, le=1000)
    replication_factor: int = Field(default=3, ge=1, le=10)
    schema_registry_url: AnyHttpUrl | None = None
    schema_store_dir: Path = Path(".vmsync/schemas")

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            msg = "SASL needs sasl_mechanism, sasl_username and sasl_password"
            raise ValueError(msg)
        return self


class VeevaSettings(_Section):
    """The Veeva CRM org (a Salesforce org) and the integration user's credentials."""

    login_url: AnyHttpUrl = AnyHttpUrl("https://login.salesforce.com")
    api_version: str = Field(default="59.0", pattern=r"^\d+\.\d$")
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr = SecretStr("")
    client_id: str | None = None
    client_secret: SecretStr | None = None
    ca_bundle: Path | None = None
    query_batch_size: int = Field(default=2000, ge=200, le=2000)
    bulk_threshold: int = Field(default=50_000, ge=0)
    write_batch_size: int = Field(default=200, ge=1, le=200)
    timeout_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _needs_credentials(self) -> VeevaSettings:
        if not ((self.username and self.password) or (self.client_id and self.client_secret)):
            msg = "give username + password (+ security_token), or client_id + client_secret"
            raise ValueError(msg)
        return self


class MarketoSettings(_Section):
    """The Marketo instance and the API budget this sync may spend."""

    base_url: AnyHttpUrl
    client_id: str
    client_secret: SecretStr
    ca_bundle: Path | None = None
    batch_size: int = Field(default=300, ge=1, le=300)
    calls_per_window: int = Field(default=100, ge=1, le=100)
    window_seconds: float = Field(default=20.0, gt=0)
    max_concurrency: int = Field(default=10, ge=1, le=10)
    daily_quota: int = Field(default=50_000, ge=1)
    daily_reserve: int = Field(default=5_000, ge=0)
    timeout_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _reserve_below_quota(self) -> MarketoSettings:
        if self.daily_reserve >= self.daily_quota:
            msg = f"daily_reserve ({self.daily_reserve}) must be below daily_quota"
            raise ValueError(msg)
        return self


class SyncSettings(_Section):
    """What to sync and how often."""

    poll_interval_seconds: float = Field(default=300.0, gt=0)
    mapping_file: Path | None = None
    objects: tuple[str, ...] = ("Account", "User", "Call2_vod__c", "Call2_Key_Message_vod__c")
    custom_objects: tuple[str, ...] = ()
    delete_policy: Literal["ignore", "flag", "delete"] = "flag"
    state_dir: Path = Path(".vmsync/state")
    trusted_edit_sources: tuple[str, ...] = ("Marketo UI", "Web service API", "Person Details")
    safety_overlap_seconds: int = Field(default=60, ge=0)

    @field_validator("objects", "custom_objects")
    @classmethod
    def _supported(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            reason = unsupported_reason(name)
            if reason is not None:
                raise ValueError(reason)
        return names


class Settings(BaseSettings):
    """The whole configuration of one vmsync deployment."""

    model_config = SettingsConfigDict(
        env_prefix="VMSYNC_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    kafka: KafkaSettings = KafkaSettings()
    veeva: VeevaSettings
    marketo: MarketoSettings
    sync: SyncSettings = SyncSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],  # noqa: ARG003
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment overrides the YAML file (passed as init values)."""
        return env_settings, init_settings


def load_settings(path: Path | None) -> Settings:
    """Read ``path`` (YAML) plus environment overrides; raise ``ConfigError`` naming bad keys."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of sections at the top")
        data = loaded or {}
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source=path)) from None


def describe_validation_error(exc: ValidationError, *, source: Path | None = None) -> str:
    """One line per bad key: ``key.path: what is wrong (got value)``, secrets never shown."""
    where = f" in {source}" if source else ""
    lines = [f"invalid configuration{where}:"]
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        shown = ""
        if err["type"] != "missing" and not any(word in key for word in _SECRET_WORDS):
            value = err.get("input")
            if not isinstance(value, dict):
                shown = f" (got {value!r})"
        lines.append(f"  {key}: {message}{shown}")
    return "\n".join(lines)
