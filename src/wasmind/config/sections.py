"""Our application sections of the user configuration: ``[swarm]`` and ``[nats]``."""

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["NatsSection", "SwarmSection"]


class SwarmSection(BaseModel):
    """``[swarm]``: how the embedded default runs (and the swarm name everywhere)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="subject namespace")
    hosts: int = Field(default=1, ge=1, description="host processes kept running")
    warm_pool: int = Field(default=1, ge=0, description="idle hosts kept ready for spawns")
    host_capacity: int = Field(default=100, ge=1, description="agents per host")
    heartbeat_seconds: float = Field(default=1.0, gt=0, description="host heartbeat interval")


class NatsSection(BaseModel):
    """``[nats]``: join an existing NATS deployment instead of starting a private server."""

    model_config = ConfigDict(extra="forbid", strict=True)
    url: str | None = Field(default=None, description="nats://host:4222 (comma-separated for a cluster)")
    user: str | None = None
    password_env: str | None = Field(default=None, description="environment variable holding the password")
    token_env: str | None = Field(default=None, description="environment variable holding the token")
    creds_file: str | None = None
    nkey_seed_file: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
