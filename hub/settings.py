"""Typed settings, read once from the environment (prefix HUB_, plus KAFKA_BOOTSTRAP_SERVERS)."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.store.retention import RetentionPolicy

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


class Environment(StrEnum):
    """Where the hub runs. Production refuses to start without an operator token and a real Kafka."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    environment: Environment = Field(
        default=Environment.DEVELOPMENT,
        description="development | production, in any case; any other value refuses to start",
    )

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "HUB_KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka brokers; when unset the hub starts its embedded broker",
    )
    topic_prefix: str = "hub."
    topic_partitions: int = 8
    consumer_group: str = "sektor-hub"
    consumer_session_timeout_ms: int = 10_000

    register_file: Path = SCHEMAS_DIR / "demo-register.yaml"
    database_url: str = "sqlite+aiosqlite:///var/hub.sqlite3"
    migrate_at_start: bool = Field(
        default=True,
        description="bring the database's schema to this hub's revision at start; off: start only on a database "
        "at that revision (run `hub migrate` first)",
    )
    patient_register_file: Path | None = Field(
        default=None, description="CPR -> municipality and GP practice (YAML, JSON or CSV), for subscriptions"
    )
    subscription_refresh_seconds: float = Field(
        default=5.0, description="how often a hub process picks up subscriptions changed by another process"
    )

    max_message_bytes: int = 10 * 1024 * 1024
    validation_processes: int | None = Field(
        default=None,
        ge=0,
        description="worker processes that validate messages, off the event loop; 0 validates in the hub's own "
        "process; unset: one where the machine has two cores or more",
    )
    delivery_timeout_seconds: float = 10.0
    delivery_retry_seconds: float = Field(
        default=300.0, description="how long one delivery is retried before it is marked failed"
    )
    delivery_base_delay_seconds: float = 0.5
    delivery_max_delay_seconds: float = 30.0
    delivery_concurrency: int = 64
    acknowledgement_timeout_seconds: float = Field(
        default=1800.0, description="a delivery without an acknowledgement after this long is flagged (MedCom: 30 min)"
    )
    acknowledgement_redeliveries: int = Field(
        default=0, ge=0, description="how often an unacknowledged message is delivered again, one timeout apart"
    )
    acknowledgement_scan_seconds: float = 30.0
    shutdown_grace_seconds: float = Field(
        default=10.0, description="on SIGTERM, how long deliveries in flight may take before they are handed back"
    )
    worker_stall_seconds: float = Field(
        default=60.0, gt=0, description="a worker holding records without finishing any for this long is stalled"
    )

    mllp_port: int | None = Field(
        default=None, description="HL7 v2 MLLP listener (ADT -> HospitalNotification); off when unset"
    )
    mllp_host: str | None = Field(default=None, description="defaults to HUB_HOST")
    mllp_max_frame_bytes: int = 1024 * 1024
    file_drop_dir: Path | None = Field(default=None, description="watched directory for batch senders; off when unset")
    file_drop_poll_seconds: float = 2.0

    # How long the hub keeps what it stores, in days (0: for ever). A message still unfinished (received,
    # routed, delivered without its acknowledgement, failed) is never purged, whatever its age.
    retention_archive_days: int = Field(
        default=30, ge=0, description="raw bytes of a finished message, after it finished (replay, resend answers)"
    )
    retention_tracking_days: int = Field(
        default=90, ge=0, description="a finished message's tracking rows and timeline (they hold the CPR)"
    )
    retention_mailbox_days: int = Field(default=7, ge=0, description="a mailbox item, after its receiver took it")
    retention_ledger_days: int = Field(
        default=90, ge=0, description="who has which message, and receivers' acknowledgements (answers to resends)"
    )
    retention_dead_letter_days: int = Field(
        default=90, ge=0, description="a dead letter after it was redriven; one never redriven is kept"
    )
    retention_scan_seconds: float = Field(default=3600.0, gt=0, description="how often the retention purge runs")

    operator_token: str | None = Field(
        default=None, description="bearer token for /api; required when environment is production"
    )
    log_level: str = "INFO"

    @property
    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            archive_days=self.retention_archive_days,
            tracking_days=self.retention_tracking_days,
            mailbox_days=self.retention_mailbox_days,
            ledger_days=self.retention_ledger_days,
            dead_letter_days=self.retention_dead_letter_days,
        )

    @property
    def validation_workers(self) -> int:
        """How many validation processes to start: as set, or one where there is a second core for it."""
        if self.validation_processes is not None:
            return self.validation_processes
        return 1 if (os.cpu_count() or 1) >= 2 else 0

    @field_validator("environment", mode="before")
    @classmethod
    def _environment_in_any_case(cls, value: Any) -> Any:
        """``Production`` and `` PRODUCTION `` are production; what is not one of the two still refuses."""
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _archive_goes_before_tracking(self) -> HubSettings:
        """Whether a message is finished is read off its tracking row: its raw bytes cannot outlive it."""
        archive, tracking = self.retention_archive_days, self.retention_tracking_days
        if tracking and (archive == 0 or archive > tracking):
            raise ValueError(
                f"HUB_RETENTION_ARCHIVE_DAYS ({archive or 'for ever'}) must not be longer than "
                f"HUB_RETENTION_TRACKING_DAYS ({tracking})"
            )
        return self

    @model_validator(mode="after")
    def _production_is_locked_down(self) -> HubSettings:
        if self.environment is Environment.PRODUCTION:
            if not self.operator_token:
                raise ValueError("HUB_OPERATOR_TOKEN must be set when HUB_ENVIRONMENT=production")
            if not self.kafka_bootstrap_servers:
                raise ValueError("KAFKA_BOOTSTRAP_SERVERS must be set when HUB_ENVIRONMENT=production")
        return self
