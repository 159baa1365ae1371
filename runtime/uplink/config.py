"""``uplink:`` section of a site config (pydantic v2, unknown keys rejected).

Secrets never sit in the YAML itself: use ``${ENV}`` substitution (done by ``runtime/config.py``) or
a ``*_file`` path that is read when the forwarder starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

_ID = r"^[A-Za-z0-9_.-]{1,64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttTlsConfig(_Strict):
    """TLS with server verification (hostname checked); a client certificate when the broker
    requires one (``require_certificate true``)."""

    ca_file: Path = Field(description="CA certificate(s) that verify the broker (PEM)")
    cert_file: Path | None = Field(
        None,
        description="client certificate, when the broker requires one (PEM)",
    )
    key_file: Path | None = Field(None, description="the client certificate's private key (PEM)")

    @model_validator(mode="after")
    def _pair(self) -> MqttTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (client certificate and its key)")
        return self


class MqttSinkConfig(_Strict):
    """MQTT 5 over TCP or TLS: QoS 1, persistent session, retained last will on ``.../status``."""

    type: Literal["mqtt"] = "mqtt"
    host: str = Field(min_length=1, description="broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="broker port (8883 is usual with TLS)")
    client_id: str | None = Field(None, pattern=_ID, description="default: the device id")
    username: str | None = Field(None, description="MQTT user name")
    password: str | None = Field(None, description="prefer ${ENV} or password_file")
    password_file: Path | None = Field(None, description="file holding the MQTT password")
    tls: MqttTlsConfig | None = Field(None, description="TLS settings (null: plain TCP)")
    topic_prefix: str = Field(
        "carbonedge",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="first level of every topic (<prefix>/<site>/<device>/...)",
    )
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keep-alive interval")
    session_expiry_s: int = Field(
        7 * 86400,
        ge=0,
        le=0xFFFFFFFF,
        description="how long the broker keeps the session while the box is away",
    )
    reconnect_min_s: float = Field(
        1.0,
        gt=0,
        le=600,
        description="first wait before reconnecting (doubles up to reconnect_max_s)",
    )
    reconnect_max_s: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="longest wait between reconnection attempts",
    )
    max_inflight: int = Field(
        20,
        ge=1,
        le=1000,
        description="messages sent and not yet acknowledged at most",
    )

    @model_validator(mode="after")
    def _secrets(self) -> MqttSinkConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self


class HttpSinkConfig(_Strict):
    """HTTPS POST of each message; 2xx acks, 408/425/429/5xx retry, other 4xx dead-letter."""

    type: Literal["http"] = "http"
    url: str = Field(pattern=r"^https?://", description="endpoint each message is POSTed to")
    ca_file: Path | None = Field(
        None,
        description="CA certificate(s) that verify the server (PEM; default: the system's)",
    )
    token: str | None = Field(None, description="bearer token; prefer ${ENV} or token_file")
    token_file: Path | None = Field(
        None,
        description="file holding the bearer token sent with each request",
    )
    timeout_s: float = Field(10.0, gt=0, le=300, description="how long one request may take")
    retry_min_s: float = Field(
        1.0,
        gt=0,
        le=600,
        description="first wait before a retry (doubles up to retry_max_s)",
    )
    retry_max_s: float = Field(120.0, gt=0, le=3600, description="longest wait between retries")


class SigningConfig(_Strict):
    """How the box signs. ``hmac-sha256`` (default): a per-device shared secret, exactly one of
    ``key`` (use ${ENV}) or ``key_file``. ``ed25519``: the device's private key in ``key_file``
    (PEM, mode 0600, from ``carbonedge keys generate``); the platform holds only its public key."""

    algorithm: Literal["hmac-sha256", "ed25519"] = Field(
        "hmac-sha256",
        description="hmac-sha256 (shared secret) or ed25519 (device private key)",
    )
    key: str | None = Field(
        None,
        min_length=16,
        description="the HMAC secret (use ${ENV}); exactly one of key or key_file",
    )
    key_file: Path | None = Field(
        None,
        description="file holding the HMAC secret or the ed25519 private key (PEM, mode 0600)",
    )

    @model_validator(mode="after")
    def _one(self) -> SigningConfig:
        if self.algorithm == "ed25519":
            if self.key is not None or self.key_file is None:
                raise ValueError("ed25519 needs key_file (the private key file), not key")
        elif (self.key is None) == (self.key_file is None):
            raise ValueError("give exactly one of key (e.g. ${CARBONEDGE_HMAC_KEY}) or key_file")
        return self


SinkConfig = Annotated[Union[MqttSinkConfig, HttpSinkConfig], Field(discriminator="type")]


class UplinkConfig(_Strict):
    """Where messages go and how the on-box outbox (in ``output.sqlite_path``) behaves."""

    site_id: str = Field(
        pattern=_ID,
        description="the site's id upstream (topic level and message field)",
    )
    sink: SinkConfig = Field(description="where messages go, chosen by type: (mqtt or http)")
    signing: SigningConfig = Field(description="how messages are signed")
    outbox_max_mb: float = Field(
        64.0,
        gt=0,
        le=100_000,
        description="outbox size past which old summaries are merged (compacted)",
    )
    max_message_bytes: int = Field(
        16384,
        ge=256,
        le=256 * 1024 * 1024,
        description="largest message sent; larger ones are dead-lettered",
    )
    drain_rate_msg_s: float = Field(
        20.0,
        gt=0,
        le=100_000,
        description="messages sent per second at most when catching up",
    )
    compact_max_interval_s: float = Field(
        3600.0,
        gt=0,
        le=7 * 86400,
        description="longest interval that compaction merges summaries into",
    )
    health_interval_s: float = Field(300.0, ge=0, le=86400, description="0 = no health messages")
    live_events: bool = Field(
        False,
        description="also publish each line crossing at once, QoS 0, on "
        "<prefix>/<site>/<device>/events/crossing (mqtt sink only; runtime/uplink/live_events.py)",
    )
    flush_timeout_s: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="how long shutdown waits for the outbox to drain",
    )
    stalled_after_s: float = Field(
        120.0,
        gt=0,
        le=86400,
        description="nothing acknowledged this long while messages wait: /healthz degraded",
    )
