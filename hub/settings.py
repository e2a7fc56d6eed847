"""Typed settings, read once from the environment (prefix HUB_, plus KAFKA_BOOTSTRAP_SERVERS)."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.broker.topic_plan import TopicSpec
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
    topic_partitions: int = Field(
        default=8, ge=1, description="partitions of each topic; existing topics with fewer refuse the start"
    )
    topic_replication_factor: int | None = Field(
        default=None,
        ge=1,
        description="replicas of each topic the hub creates; unset: 3 in production (a three-broker cluster), 1 "
        "in development; existing topics with fewer refuse the start",
    )
    topic_min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="min.insync.replicas of each topic (at most the replication factor); unset: 2 where there "
        "are 3 replicas or more, else the broker's default; existing topics with a lower value refuse the start",
    )
    topic_retention_ms: int | None = Field(
        default=None,
        ge=-1,
        description="retention.ms of each topic (e.g. 604800000, 7 days; -1: for ever); unset: the broker's "
        "default; existing topics with another value are logged",
    )
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
    public_url: str | None = Field(
        default=None,
        description="the hub's address as receivers reach it (https://hub.example.dk), for the references in "
        "rest-hook notifications; unset: http://<host>:<port>",
    )
    heartbeat_scan_seconds: float = Field(
        default=1.0, gt=0, description="how often the hub looks for rest-hook subscriptions due a heartbeat"
    )

    max_message_bytes: int = Field(
        default=100_000_000,
        gt=0,
        description="the largest message the hub takes, in either FHIR format: 100 MB, MedCom's limit on the VANS "
        "network (MedCom-FHIR-Communication, governance for the network layer)",
    )
    validation_processes: int | None = Field(
        default=None,
        ge=0,
        description="worker processes that validate messages, off the event loop; 0 validates in the hub's own "
        "process; unset: one where the machine has two cores or more",
    )
    delivery_timeout_seconds: float = 10.0
    delivery_retry_seconds: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="how long one delivery is retried before it is a dead letter and its sender is told: 7 days. "
        "MedCom messages travel on VANS, an asynchronous store-and-forward network: a receiver that is switched "
        "off does not lose its messages, it gets them when it is back. The hub stands in for that network, so it "
        "keeps trying for as long as a GP or municipal system is normally away: a night (about 16 h), a weekend "
        "(Friday 16:00 to Monday 08:00, 64 h), Easter or Christmas (Wednesday afternoon to Tuesday morning, 136 h). "
        "The sender does not wait that long to hear of trouble: MedCom expects the acknowledgement within 30 "
        "minutes and lets the sender resend at most twice, and the hub flags what is overdue. A receiver that "
        "refuses for good is a dead letter at once",
    )
    delivery_base_delay_seconds: float = 0.5
    delivery_max_delay_seconds: float = Field(
        default=300.0,
        gt=0,
        description="the longest wait between two tries of a parked delivery: 5 minutes, so a receiver that is back "
        "gets its messages within 5 minutes, well inside MedCom's 30 minutes for the acknowledgement, while a "
        "receiver down for a week is tried about once every 4 minutes, not thousands of times an hour",
    )
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
    retention_read_audit_days: int = Field(
        default=5 * 365 + 1,
        ge=0,
        description="an entry of the audit of reads (who read which patient's data): 5 years, as Danish practice "
        "keeps the access logs of health records so that a patient can ask who looked, and supervision can follow "
        "up, long after the message itself is gone",
    )
    audit_pseudonym_key: str | None = Field(
        default=None,
        min_length=16,
        description="the key of the patient pseudonyms in the audit of reads (HMAC-SHA256 of the CPR number); unset: "
        "the hub makes one and keeps it in the database. Set it, kept apart from the database, so that a copy of the "
        "database alone cannot resolve pseudonyms; never change it: older entries would no longer be found by patient",
    )
    retention_scan_seconds: float = Field(default=3600.0, gt=0, description="how often the retention purge runs")

    operator_token: str | None = Field(
        default=None,
        description="one shared bearer token for /api, an administrator named operator; in production this, "
        "HUB_OPERATOR_TOKENS_FILE or HUB_OIDC_ISSUER is required",
    )
    operator_tokens_file: Path | None = Field(
        default=None, description="named operators with a role and a hashed token (YAML); checked at start"
    )
    oidc_issuer: str | None = Field(
        default=None, description="OpenID Connect issuer whose JWTs sign operators in; off when unset"
    )
    oidc_audience: str | None = Field(
        default=None, description="the audience (aud) a JWT must name; required with HUB_OIDC_ISSUER"
    )
    oidc_jwks_url: str | None = Field(
        default=None, description="the issuer's JWKS; unset: the jwks_uri of its discovery document"
    )
    oidc_roles_claim: str = Field(
        default="roles", description="the JWT claim with the roles; dotted for nested (realm_access.roles)"
    )
    oidc_name_claim: str = Field(
        default="preferred_username", description="the JWT claim naming the operator; falls back to sub"
    )
    log_level: str = "INFO"

    @property
    def base_url(self) -> str:
        """The hub's address as receivers reach it, without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            archive_days=self.retention_archive_days,
            tracking_days=self.retention_tracking_days,
            mailbox_days=self.retention_mailbox_days,
            ledger_days=self.retention_ledger_days,
            dead_letter_days=self.retention_dead_letter_days,
            read_audit_days=self.retention_read_audit_days,
        )

    @property
    def topic_spec(self) -> TopicSpec:
        """How the hub's topics are created, and what existing ones are checked against at start."""
        return TopicSpec(
            partitions=self.topic_partitions,
            replication_factor=self.replication_factor,
            min_insync_replicas=self.min_insync_replicas,
            retention_ms=self.topic_retention_ms,
        )

    @property
    def replication_factor(self) -> int:
        """As set; unset, 3 in production (a write survives the loss of a broker) and 1 in development."""
        if self.topic_replication_factor is not None:
            return self.topic_replication_factor
        return 3 if self.environment is Environment.PRODUCTION else 1

    @property
    def min_insync_replicas(self) -> int | None:
        """As set; unset, 2 where there are 3 replicas or more (acks=all then waits for two brokers)."""
        if self.topic_min_insync_replicas is not None:
            return self.topic_min_insync_replicas
        return 2 if self.replication_factor >= 3 else None

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

    @field_validator("topic_retention_ms")
    @classmethod
    def _retention_is_positive_or_for_ever(cls, value: int | None) -> int | None:
        if value == 0:
            raise ValueError("must be positive (milliseconds) or -1 (for ever); 0 would delete records at once")
        return value

    @model_validator(mode="after")
    def _min_insync_within_replicas(self) -> HubSettings:
        """A topic cannot have more replicas in sync than it has replicas: every write would be refused."""
        wanted, replicas = self.topic_min_insync_replicas, self.replication_factor
        if wanted is not None and wanted > replicas:
            raise ValueError(
                f"HUB_TOPIC_MIN_INSYNC_REPLICAS ({wanted}) must not be more than "
                f"HUB_TOPIC_REPLICATION_FACTOR ({replicas})"
            )
        return self

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

    @field_validator("operator_tokens_file")
    @classmethod
    def _operator_tokens_file_is_usable(cls, value: Path | None) -> Path | None:
        """A faulty operator token file stops the hub before it starts anything, naming the entry and field."""
        if value is not None:
            from hub.api.operator_tokens import load_operator_tokens

            load_operator_tokens(value)  # OperatorTokensError is a ValueError: the message names entry and field
        return value

    @model_validator(mode="after")
    def _oidc_names_its_audience(self) -> HubSettings:
        """Without an audience, a JWT the issuer made for any other application would sign in to the hub."""
        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("HUB_OIDC_AUDIENCE must be set when HUB_OIDC_ISSUER is")
        return self

    @model_validator(mode="after")
    def _production_is_locked_down(self) -> HubSettings:
        if self.environment is Environment.PRODUCTION:
            if not (self.operator_token or self.operator_tokens_file or self.oidc_issuer):
                raise ValueError(
                    "HUB_OPERATOR_TOKEN must be set when HUB_ENVIRONMENT=production, unless HUB_OPERATOR_TOKENS_FILE "
                    "or HUB_OIDC_ISSUER is"
                )
            for name, url in (("HUB_OIDC_ISSUER", self.oidc_issuer), ("HUB_OIDC_JWKS_URL", self.oidc_jwks_url)):
                if url and not url.startswith("https://"):
                    raise ValueError(f"{name} must be an https:// URL when HUB_ENVIRONMENT=production")
            if not self.kafka_bootstrap_servers:
                raise ValueError("KAFKA_BOOTSTRAP_SERVERS must be set when HUB_ENVIRONMENT=production")
        return self
