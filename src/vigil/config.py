"""Settings: defaults, then a TOML-free environment override (``VIGIL_...``).

Every process role reads the same settings; the embedded defaults need nothing but a data
directory (SQLite database, recordings, keys).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

GIB = 1024**3


class StorageSettings(BaseModel):
    """Where recordings go and how much room they may take."""

    recordings_dir: Path | None = None
    segment_seconds: float = Field(10.0, gt=0.5, le=600)
    default_retention_days: float = Field(30.0, gt=0)
    disk_budget_bytes: int | None = Field(None, gt=0, description="all recordings together")
    min_free_bytes: int = Field(2 * GIB, ge=0, description="low-water mark on the disk")
    janitor_interval_s: float = Field(30.0, gt=0)


class RecorderSettings(BaseModel):
    """The recorder role: which node this is and where its media API listens."""

    node_name: str = "recorder-1"
    host: str = "127.0.0.1"
    port: int = 8081
    public_url: str | None = None
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    config_poll_s: float = 2.0
    health_interval_s: float = 2.0


class ServerSettings(BaseModel):
    """The management server role."""

    host: str = "127.0.0.1"
    port: int = 8080


class Settings(BaseSettings):
    """All settings of one Vigil installation."""

    model_config = SettingsConfigDict(env_prefix="VIGIL_", env_nested_delimiter="__")

    data_dir: Path = Path("vigil-data")
    database_url: str | None = None
    server: ServerSettings = ServerSettings()
    recorder: RecorderSettings = RecorderSettings()
    storage: StorageSettings = StorageSettings()
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
    def server_url(self) -> str:
        """Base URL the other roles use to reach the management server."""
        return f"http://{self.server.host}:{self.server.port}"

    @property
    def recorder_url(self) -> str:
        """Base URL of this recorder's media API, as the server should call it."""
        return self.recorder.public_url or f"http://{self.recorder.host}:{self.recorder.port}"

    def ensure_dirs(self) -> None:
        """Create the data and recordings directories."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
