"""Herald's configuration: every knob is an environment variable with a default that serves `make up`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.locales import canonical


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    admin_key: str | None = Field(default=None, alias="HERALD_ADMIN_KEY")
    api_host: str = Field(default="127.0.0.1", alias="HERALD_API_HOST")
    api_port: int = Field(default=8000, alias="HERALD_API_PORT")
    data_dir: Path = Field(default=Path(".herald"), alias="HERALD_DATA_DIR")

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    # Without DATABASE_URL: start (or join) an embedded PostgreSQL under HERALD_DATA_DIR/pg. For development
    # only, and it needs the `embedded` extra; otherwise a process without DATABASE_URL refuses to start.
    embedded: bool = Field(default=False, alias="HERALD_EMBEDDED")
    db_pool_min: int = Field(default=1, alias="HERALD_DB_POOL_MIN")
    db_pool_max: int = Field(default=10, alias="HERALD_DB_POOL_MAX")

    temporal_address: str | None = Field(default=None, alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    task_queue: str = Field(default="notifications", alias="HERALD_TASK_QUEUE")
    temporal_port: int = Field(default=7233, alias="HERALD_TEMPORAL_PORT")
    temporal_ui_port: int = Field(default=8233, alias="HERALD_TEMPORAL_UI_PORT")
    # Where operators open Temporal's Web UI: the dashboard links each notification's workflow there.
    temporal_ui_url: str = Field(default="http://127.0.0.1:8233", alias="HERALD_TEMPORAL_UI_URL")

    max_attempts: int = Field(default=3, ge=1, le=100, alias="HERALD_MAX_ATTEMPTS")
    retry_initial_s: float = Field(default=1.0, gt=0, alias="HERALD_RETRY_INITIAL_S")
    retry_backoff: float = Field(default=2.0, ge=1.0, alias="HERALD_RETRY_BACKOFF")
    retry_max_s: float = Field(default=60.0, gt=0, alias="HERALD_RETRY_MAX_S")
    dlq_retention_days: float = Field(default=14.0, gt=0, alias="HERALD_DLQ_RETENTION_DAYS")
    delivery_timeout_s: float = Field(default=30.0, gt=0, alias="HERALD_DELIVERY_TIMEOUT_S")

    max_body_bytes: int = Field(default=1024 * 1024, alias="HERALD_MAX_BODY_BYTES")
    # SIGTERM: the API finishes requests in flight, a worker lets running activities finish, for this long.
    # OTLP/HTTP traces endpoint (http://collector:4318/v1/traces); needs the `tracing` extra. Empty: off.
    otlp_endpoint: str = Field(default="", alias="HERALD_OTLP_ENDPOINT")
    log_format: Literal["json", "text"] = Field(default="json", alias="HERALD_LOG_FORMAT")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"] = Field(
        default="INFO", alias="HERALD_LOG_LEVEL")
    # How often the reconciler (a Temporal Schedule) looks for stored notifications whose workflow never
    # started; 0: no schedule (create it from another deployment).
    reconcile_every_s: float = Field(default=60.0, ge=0, alias="HERALD_RECONCILE_EVERY_S")
    # Recurring broadcasts (POST /v1/schedules): the shortest interval accepted, and how late a fire missed
    # during an outage may still go out once Temporal and a worker are back (older ones are dropped).
    schedule_min_interval_s: int = Field(default=60, ge=1, alias="HERALD_SCHEDULE_MIN_INTERVAL_S")
    schedule_catchup_s: int = Field(default=3600, ge=10, alias="HERALD_SCHEDULE_CATCHUP_S")
    # host:port where a worker serves Prometheus metrics (the SDK's and Herald's); empty: none.
    worker_metrics_address: str = Field(default="", alias="HERALD_WORKER_METRICS_ADDRESS")
    graceful_shutdown_s: float = Field(default=10.0, ge=0, alias="HERALD_GRACEFUL_SHUTDOWN_S")
    # Requests per second and burst for each stored API key (a key may carry its own); 0 turns limits off.
    # Counted in PostgreSQL, so they hold across every API process. HERALD_ADMIN_KEY is not limited.
    key_rate_per_s: float = Field(default=50.0, ge=0, alias="HERALD_KEY_RATE_PER_S")
    key_burst: int = Field(default=100, ge=1, alias="HERALD_KEY_BURST")
    # The same for each user token (the inbox in a browser), and how many inbox streams one token may hold open
    # at once in each API process.
    token_rate_per_s: float = Field(default=10.0, ge=0, alias="HERALD_TOKEN_RATE_PER_S")
    token_burst: int = Field(default=30, ge=1, alias="HERALD_TOKEN_BURST")
    token_max_streams: int = Field(default=5, ge=1, alias="HERALD_TOKEN_MAX_STREAMS")
    # HS256 key the customer's backend signs inbox JWTs with (claims `sub` = user id, `exp`). Empty: none accepted.
    inbox_signing_key: str = Field(default="", alias="HERALD_INBOX_SIGNING_KEY", repr=False)
    # Origins (comma-separated, `https://app.example.com`) whose pages may embed the inbox: the only ones that
    # get CORS answers from /v1/me/... and /ui/embed/... Empty: none.
    inbox_origins: str = Field(default="", alias="HERALD_INBOX_ORIGINS")

    # Outgoing mail. Fallbacks are tried in order once the primary's attempts are exhausted.
    smtp_host: str = Field(default="127.0.0.1", alias="HERALD_SMTP_HOST")
    smtp_port: int = Field(default=1025, alias="HERALD_SMTP_PORT")
    smtp_from: str = Field(default="herald@localhost", alias="HERALD_SMTP_FROM")
    smtp_username: str | None = Field(default=None, alias="HERALD_SMTP_USERNAME")
    smtp_password: str | None = Field(default=None, alias="HERALD_SMTP_PASSWORD")
    smtp_starttls: bool = Field(default=False, alias="HERALD_SMTP_STARTTLS")
    smtp_ca_file: str | None = Field(default=None, alias="HERALD_SMTP_CA_FILE")  # a private relay's CA bundle
    smtp_timeout_s: float = Field(default=10.0, gt=0, alias="HERALD_SMTP_TIMEOUT_S")
    smtp_fallbacks: str = Field(default="", alias="HERALD_SMTP_FALLBACKS")  # "host:port,host:port"
    # `make up` only: the port of its local mail catcher, run when neither HERALD_SMTP_HOST nor HERALD_SMTP_PORT
    # is set; the worker it starts sends mail there.
    mail_catcher_port: int = Field(default=1025, ge=1, le=65535, alias="HERALD_MAIL_CATCHER_PORT")

    # HTTP gateways and outgoing webhooks (Standard Webhooks signatures).
    sms_webhook_url: str | None = Field(default=None, alias="HERALD_SMS_WEBHOOK_URL")
    sms_fallback_urls: str = Field(default="", alias="HERALD_SMS_FALLBACK_URLS")
    push_webhook_url: str | None = Field(default=None, alias="HERALD_PUSH_WEBHOOK_URL")
    push_fallback_urls: str = Field(default="", alias="HERALD_PUSH_FALLBACK_URLS")
    chat_webhook_url: str | None = Field(default=None, alias="HERALD_CHAT_WEBHOOK_URL")
    chat_fallback_urls: str = Field(default="", alias="HERALD_CHAT_FALLBACK_URLS")
    webhook_secret: str | None = Field(default=None, alias="HERALD_WEBHOOK_SECRET")
    webhook_timeout_s: float = Field(default=10.0, gt=0, alias="HERALD_WEBHOOK_TIMEOUT_S")
    # Connections each worker keeps open at most, per purpose: operator gateways (SMS, push), users' webhooks,
    # and status webhooks each have a pool of their own, so slow receivers of one kind never take the others'.
    gateway_pool_size: int = Field(default=50, ge=1, alias="HERALD_GATEWAY_POOL_SIZE")
    webhook_pool_size: int = Field(default=50, ge=1, alias="HERALD_WEBHOOK_POOL_SIZE")
    status_webhook_pool_size: int = Field(default=20, ge=1, alias="HERALD_STATUS_WEBHOOK_POOL_SIZE")
    # The simulated channel `sim` (addresses decide the outcome) is for tests and demos: off unless set.
    sim_enabled: bool = Field(default=False, alias="HERALD_SIM_ENABLED")
    # Hosts or CIDRs that user webhooks may reach although private or loopback: "hooks.internal,10.1.0.0/16".
    webhook_allowed_hosts: str = Field(default="", alias="HERALD_WEBHOOK_ALLOWED_HOSTS")
    # Where vendors reach Herald: delivery feedback URLs are {public_url}/v1/feedback/{integration_id}, and the
    # vendors' signatures that cover the URL (Twilio's) are checked over that one.
    public_url: str = Field(default="http://127.0.0.1:8000", alias="HERALD_PUBLIC_URL")
    # `host:port` that serves SNS signing certificates instead of Amazon's `sns.<region>.amazonaws.com` hosts (an
    # SNS-compatible service, a test's own); still over https verified against the trust store (SSL_CERT_FILE).
    # Feedback statements this process runs at once; more callbacks wait their turn, holding no database
    # connection, so a vendor's burst never takes the connections that accepting needs. Callbacks that wait
    # together share their statement or transaction (services/feedback.py, Batches).
    feedback_concurrency: int = Field(default=4, ge=1, le=1000, alias="HERALD_FEEDBACK_CONCURRENCY")
    sns_certificate_host: str | None = Field(default=None, pattern=r"^[^\s:/]+:[0-9]{1,5}$",
                                             alias="HERALD_SNS_CERT_HOST")

    # Status webhooks: attempts per event before it is dead-lettered (backoff from HERALD_RETRY_*), how often the
    # relay looks at the outbox when no NOTIFY woke it, and how long finished events are kept.
    status_webhook_max_attempts: int = Field(default=8, ge=1, le=100, alias="HERALD_STATUS_WEBHOOK_MAX_ATTEMPTS")
    status_relay_poll_s: float = Field(default=2.0, gt=0, alias="HERALD_STATUS_RELAY_POLL_S")
    status_event_retention_days: float = Field(default=7.0, gt=0, alias="HERALD_STATUS_EVENT_RETENTION_DAYS")
    # Final notifications, read inbox items and delivered status events older than this are deleted (a Temporal
    # Schedule, hourly); 0 keeps everything.
    retention_days: float = Field(default=30.0, ge=0, alias="HERALD_RETENTION_DAYS")
    # The share of its pass's time the deletion spends in statements: after each batch it rests the rest, so
    # PostgreSQL keeps serving accepts at their usual latency (0.1 still deletes about 500 rows a second here).
    retention_duty: float = Field(default=0.1, gt=0, le=1, alias="HERALD_RETENTION_DUTY")

    # Sends per second per channel, enforced by the Temporal server across all workers: "email=10,sms=5".
    rate_limits: str = Field(default="", alias="HERALD_RATE_LIMITS")
    broadcast_page_size: int = Field(default=250, ge=1, le=2000, alias="HERALD_BROADCAST_PAGE_SIZE")
    # How many deliveries of one channel a worker runs at once (unset: the SDK's default, 100).
    max_concurrent_deliveries: int | None = Field(default=None, ge=1, alias="HERALD_MAX_CONCURRENT_DELIVERIES")
    # Channels without a rate limit deliver in a local activity, inside the workflow task: two fewer server
    # round trips per notification. Off: every delivery goes through its channel's task queue.
    local_deliveries: bool = Field(default=True, alias="HERALD_LOCAL_DELIVERIES")
    # Temporal's Python sandbox re-imports the workflow modules for every workflow run: about 40% of a worker's
    # CPU. It guards against non-deterministic code, which the test suite (sandbox on) and the replay tests
    # catch before a deploy, so production workers run without it unless this is set.
    workflow_sandbox: bool = Field(default=False, alias="HERALD_WORKFLOW_SANDBOX")
    # The API process runs a workflow worker too, with its outbox starter: it then starts a share of the
    # notifications from the outbox and runs their first task itself, as every worker does. The API then also
    # renders and delivers, and needs Temporal up when it starts. Off: the API only accepts, workers run.
    eager_start: bool = Field(default=False, alias="HERALD_EAGER_START")
    # The worker process runs its event loop on uvloop (libuv) instead of asyncio's own: same behaviour, less
    # CPU per socket read and write (the worker's round trips to PostgreSQL and Temporal). Off: asyncio's loop.
    uvloop: bool = Field(default=True, alias="HERALD_UVLOOP")

    # Encrypts every Temporal payload (AES-256-GCM): "id:base64key,...", the first seals, all open. Empty: off.
    # `python -c "from core.codec import new_key_spec; print(new_key_spec('k1'))"` makes one.
    payload_keys: str = Field(default="", alias="HERALD_PAYLOAD_KEYS", repr=False)

    # Templates render in this locale when neither the notification nor its user names one a template has; a
    # template's own text is taken to be written in it.
    default_locale: str = Field(default="en", alias="HERALD_DEFAULT_LOCALE")

    # The outbox of workflow starts (store/outbox.py): each worker runs this many workflow tasks at once and
    # claims only as many waiting starts as it has slots free; a burst waits in PostgreSQL. A claim is leased
    # for `start_lease_s` (a worker that dies mid-start leaves its rows to others after it); LISTEN wakes the
    # starter, and it polls every `start_poll_s` besides. A start Temporal refuses (not an outage) is tried
    # again with backoff; after `start_attempts` failures the reconciler takes it over and logs it.
    workflow_slots: int = Field(default=100, ge=2, le=2000, alias="HERALD_WORKFLOW_SLOTS")
    start_lease_s: float = Field(default=30.0, gt=0, alias="HERALD_START_LEASE_S")
    start_poll_s: float = Field(default=1.0, gt=0, alias="HERALD_START_POLL_S")
    start_attempts: int = Field(default=5, ge=1, alias="HERALD_START_ATTEMPTS")
    # A worker lowers its own CPU priority by this much (nice(2), every thread it starts inherits it). Where the
    # API shares cores with the drain, accepting then waits on no backlog: a burst drains a little later instead
    # of every accept answering late. 0 keeps the priority it was started with.
    worker_nice: int = Field(default=0, ge=0, le=19, alias="HERALD_WORKER_NICE")
    # Seals integrations' secret fields at rest (AES-256-GCM): "id:base64key,...", the first seals, all open, as
    # HERALD_PAYLOAD_KEYS. Empty: one key generated once in HERALD_DATA_DIR. Every API and worker needs the same.
    integration_keys: str = Field(default="", alias="HERALD_INTEGRATION_KEYS", repr=False)
    # Workers and API processes rebuild their provider chains when an integration changes (LISTEN/NOTIFY) and
    # also reload them this often, so a change whose announcement was missed still arrives.
    integrations_poll_s: float = Field(default=5.0, gt=0, alias="HERALD_INTEGRATIONS_POLL_S")

    @field_validator("default_locale")
    @classmethod
    def known_locale(cls, value: str) -> str:
        return canonical(value)

    @field_validator("admin_key")
    @classmethod
    def refuse_placeholder_key(cls, value: str | None) -> str | None:
        # A copied example value in production is worse than no key: refuse it loudly.
        if value is not None and value.strip().lower() in {"changeme", "change-me", "secret", "admin", ""}:
            raise ValueError("HERALD_ADMIN_KEY is a placeholder; set a real key or leave it unset")
        return value

    @field_validator("inbox_signing_key")
    @classmethod
    def signing_key_length(cls, value: str) -> str:
        # RFC 7518 asks HS256 keys for at least 256 bits: a short one can be guessed from one signed token.
        if value and len(value.encode()) < 32:
            raise ValueError("HERALD_INBOX_SIGNING_KEY must be at least 32 bytes")
        return value

    @field_validator("payload_keys")
    @classmethod
    def payload_keys_shape(cls, value: str) -> str:
        from core.codec import parse_keys

        parse_keys(value)
        return value

    @field_validator("integration_keys")
    @classmethod
    def integration_keys_shape(cls, value: str) -> str:
        from core.codec import parse_keys

        parse_keys(value, "HERALD_INTEGRATION_KEYS")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def whsec_shape(cls, value: str | None) -> str | None:
        if value is not None:
            import base64
            import binascii

            try:
                key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
            except binascii.Error as exc:
                raise ValueError("HERALD_WEBHOOK_SECRET must be whsec_ followed by base64") from exc
            if len(key) < 24:
                raise ValueError("HERALD_WEBHOOK_SECRET must hold at least 24 random bytes")
        return value

    @field_validator("rate_limits")
    @classmethod
    def rate_limits_shape(cls, value: str) -> str:
        parse_rate_limits(value)
        return value

    @field_validator("retention_days")
    @classmethod
    def retention_outlasts_escalation(cls, value: float) -> float:
        # A delivered notification's workflow may still wait up to 7 days for the message to be read (escalation).
        if 0 < value < 8:
            raise ValueError("HERALD_RETENTION_DAYS must be 0 (keep everything) or at least 8")
        return value

    @property
    def channel_rate_limits(self) -> dict[str, float]:
        return parse_rate_limits(self.rate_limits)

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"


def parse_rate_limits(value: str) -> dict[str, float]:
    limits: dict[str, float] = {}
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        channel, _, rate = item.partition("=")
        try:
            limits[channel.strip()] = float(rate)
        except ValueError:
            raise ValueError(f"HERALD_RATE_LIMITS: '{item}' is not channel=sends_per_second") from None
        if limits[channel.strip()] <= 0:
            raise ValueError(f"HERALD_RATE_LIMITS: '{item}' must be a positive rate")
    return limits


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
