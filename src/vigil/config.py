"""Settings: defaults, then a TOML-free environment override (``VIGIL_...``).

Every process role reads the same settings; the embedded defaults need nothing but a data
directory (SQLite database, recordings, keys).
"""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

GIB = 1024**3


class StorageSettings(BaseModel):
    """Where recordings go and how much room they may take."""

    recordings_dir: Path | None = None
    segment_seconds: float = Field(10.0, gt=0.5, le=600)
    default_retention_days: float = Field(30.0, gt=0)
    disk_budget_bytes: int | None = Field(
        None,
        gt=0,
        description="the recordings this recorder node keeps (one machine: all of them)",
    )
    min_free_bytes: int = Field(2 * GIB, ge=0, description="low-water mark on the disk")
    janitor_interval_s: float = Field(30.0, gt=0)
    # Events-mode cameras keep this much unrequested footage (plus one segment), so that a
    # recording request can still reach back before its event.
    event_prebuffer_s: float = Field(60.0, ge=0, le=3600)


class RecorderSettings(BaseModel):
    """The recorder role: which node this is and where its media API listens."""

    node_name: str = Field("recorder-1", min_length=1, max_length=120)
    # Cameras this node may record at most (placement spreads cameras by it).
    max_cameras: int = Field(500, ge=0, le=100_000)
    host: str = "127.0.0.1"
    port: int = 8081
    public_url: str | None = None
    # Not below 0.2 s: a restart must follow the last recording's end (a frame ahead).
    reconnect_min_s: float = Field(1.0, ge=0.2)
    reconnect_max_s: float = 30.0
    config_poll_s: float = 2.0
    health_interval_s: float = 2.0


TlsMode = Literal["auto", "on", "off"]
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine's loopback (``localhost``, 127.0.0.0/8, ``::1``).

    A host name other than ``localhost`` is never looked up: resolving it could ask a DNS
    server, and a name may resolve differently for clients anyway.
    """
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class ServerSettings(BaseModel):
    """The management server role, and how it is reached (HTTP or HTTPS)."""

    host: str = "127.0.0.1"
    port: int = 8080
    tls: TlsMode = Field(
        "auto",
        description="auto: HTTPS unless bound to a loopback address without tls_cert; on; off",
    )
    tls_cert: Path | None = Field(None, description="PEM certificate (chain); else generated")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert")
    tls_hostnames: list[str] = Field(
        default_factory=list,
        description="more names/addresses for the generated certificate (how clients reach it)",
    )

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> ServerSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("server.tls_cert and server.tls_key must be given together")
        return self

    @property
    def uses_tls(self) -> bool:
        """Whether the server speaks HTTPS. In ``auto`` mode it does unless it only listens
        on loopback (nothing off this machine can reach it) and no certificate was given."""
        if self.tls != "auto":
            return self.tls == "on"
        return self.tls_cert is not None or not is_loopback_host(self.host)

    @property
    def connect_host(self) -> str:
        """The address a process on this machine connects to (a wildcard bind means any
        local address, so the loopback one), bracketed when it is IPv6."""
        host = self.host.strip("[]")
        if host in WILDCARD_HOSTS:
            host = "::1" if ":" in host else "127.0.0.1"
        return f"[{host}]" if ":" in host else host


class AlarmSettings(BaseModel):
    """Alarms and the action outbox: escalation checks and retry policy."""

    escalation_check_s: float = Field(5.0, gt=0)
    action_max_attempts: int = Field(8, ge=1, le=100)
    action_backoff_s: float = Field(2.0, gt=0, description="first retry delay, doubling")
    action_backoff_max_s: float = Field(300.0, gt=0)
    action_concurrency: int = Field(8, ge=1, le=100, description="actions run at once")


class MqttSettings(BaseModel):
    """The MQTT integration (sensors in, events and alarms out). Off unless enabled."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    topic_prefix: str = Field("vigil", min_length=1, pattern=r"^[^#+]+$")
    client_id: str | None = Field(None, description="generated when left out")
    input_topics: list[str] = Field(
        default_factory=list, description="more topic filters to read as inputs"
    )
    keepalive_s: int = Field(30, ge=5, le=3600)
    reconnect_max_s: float = Field(30.0, gt=0)


class SmtpSettings(BaseModel):
    """The SMTP server that sends Vigil's e-mail; no host means e-mail is off."""

    host: str | None = None
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    ssl: bool = Field(False, description="TLS from the first byte (port 465)")
    username: str | None = None
    password: str | None = None
    sender: str = "vigil@localhost"
    timeout_s: float = Field(15.0, gt=0)


class PushSettings(BaseModel):
    """Web Push (VAPID): who the push services may contact, how long a message may wait."""

    subject: str = Field(
        "mailto:vigil@localhost", description="mailto: or https: contact for push services"
    )
    ttl_s: int = Field(3600, ge=0, le=28 * 86400)


class MapSettings(BaseModel):
    """The street map: where its tiles come from (a tile server the installation can reach,
    e.g. an offline city's own) and where it opens. Without ``tile_url`` only site plans
    are shown. Tiles reach browsers through the server (``/api/map/tiles``), so phones and
    the strict content policy need only Vigil's own origin."""

    tile_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s]*\{z\}[^\s]*\{x\}[^\s]*\{y\}[^\s]*$",
        description="e.g. http://tiles.city.local/{z}/{x}/{y}.png",
    )
    attribution: str = Field("", max_length=300, description="shown in the map's corner")
    center_latitude: float = Field(
        0.0, ge=-90, le=90, description="where it opens, with no camera placed"
    )
    center_longitude: float = Field(0.0, ge=-180, le=180)
    zoom: int = Field(13, ge=0, le=22)
    max_zoom: int = Field(19, ge=0, le=22)
    cache_mb: int = Field(64, ge=0, le=4096, description="tiles kept in the server's memory")


class AnalyticsSettings(BaseModel):
    """Video analytics: where detector models live and how many threads inference may use."""

    models_dir: Path | None = Field(None, description="default: <data_dir>/models")
    # One thread per camera pipeline: cameras run in parallel, so more threads per session
    # only contend for the same cores.
    ort_intra_op_threads: int = Field(1, ge=0, le=64, description="0: onnxruntime decides")


class AuthSettings(BaseModel):
    """Sign-in: session lifetimes, cookies, login throttling and lockout."""

    session_idle_minutes: float = Field(30.0, gt=0, description="signed out after this idle")
    session_absolute_hours: float = Field(12.0, gt=0, description="signed out after this")
    cookie_secure: bool = Field(True, description="False only for plain-HTTP test setups")
    free_attempts: int = Field(3, ge=0, le=100, description="failures before delays start")
    delay_base_s: float = Field(1.0, gt=0, description="first delay, doubling per failure")
    delay_max_s: float = Field(60.0, gt=0)
    lockout_after: int = Field(10, ge=1, le=1000, description="failures of one user")
    address_lockout_after: int = Field(50, ge=1, le=100000, description="from one address")
    lockout_minutes: float = Field(15.0, gt=0)


SITE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class BusSettings(BaseModel):
    """The bus between Vigil's processes: in-process (through the server's hub) on one
    machine, NATS with JetStream for a cluster."""

    url: str | None = Field(
        None, description="nats://host:4222 for cluster mode; unset: the embedded bus"
    )
    namespace: str = Field(
        "vigil",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="subject prefix and stream name on a NATS server shared by installations",
    )
    connect_timeout_s: float = Field(30.0, gt=0, description="waiting for NATS at start")


class FederationSettings(BaseModel):
    """Links of this server to the sites it registered (``vigil sites add``)."""

    poll_s: float = Field(2.0, gt=0, le=3600, description="how often each site is asked")
    lease_s: float = Field(30.0, gt=0, description="one server links a site; another after this")
    timeout_s: float = Field(10.0, gt=0, description="one request to a site")


class Settings(BaseSettings):
    """All settings of one Vigil installation."""

    model_config = SettingsConfigDict(env_prefix="VIGIL_", env_nested_delimiter="__")

    data_dir: Path = Path("vigil-data")
    # This installation's name among federated sites (a city centre, a ministry): it marks
    # its cameras, events and tracks.
    site: str = Field("local", pattern=SITE_PATTERN)
    database_url: str | None = None
    server: ServerSettings = ServerSettings()
    recorder: RecorderSettings = RecorderSettings()
    storage: StorageSettings = StorageSettings()
    alarms: AlarmSettings = AlarmSettings()
    mqtt: MqttSettings = MqttSettings()
    smtp: SmtpSettings = SmtpSettings()
    push: PushSettings = PushSettings()
    analytics: AnalyticsSettings = AnalyticsSettings()
    map: MapSettings = MapSettings()
    auth: AuthSettings = AuthSettings()
    bus: BusSettings = BusSettings()
    federation: FederationSettings = FederationSettings()
    log_level: str = "INFO"

    @cached_property
    def db_url(self) -> str:
        """The database URL, SQLite in the data directory unless one is given."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vigil.db').resolve()}"

    @property
    def recordings_dir(self) -> Path:
        """Root folder of all recorded segments."""
        return (self.storage.recordings_dir or self.data_dir / "recordings").resolve()

    @property
    def models_dir(self) -> Path:
        """Folder of the detector models (``vigil models install`` fills it)."""
        return (self.analytics.models_dir or self.data_dir / "models").resolve()

    @property
    def server_url(self) -> str:
        """Base URL the other roles use to reach the management server."""
        scheme = "https" if self.server.uses_tls else "http"
        return f"{scheme}://{self.server.connect_host}:{self.server.port}"

    @property
    def recorder_url(self) -> str:
        """Base URL of this recorder's media API, as the server should call it."""
        return self.recorder.public_url or f"http://{self.recorder.host}:{self.recorder.port}"

    @property
    def outbox_dir(self) -> Path:
        """Folder of the persistent bus outboxes (durable messages not yet delivered)."""
        return (self.data_dir / "bus-outbox").resolve()

    def ensure_dirs(self) -> None:
        """Create the data and recordings directories."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
