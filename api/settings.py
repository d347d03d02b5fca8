"""The gateway's settings: limits, rate, access; from TRACENODE_API_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Every limit the gateway enforces (docs/api.md lists them)."""

    model_config = SettingsConfigDict(env_prefix="TRACENODE_API_", frozen=True)

    #: Largest request body, in bytes (413 beyond).
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    #: Deepest nesting of arrays and objects in a JSON body (400 beyond), checked before
    #: the body is parsed.
    max_json_depth: int = Field(default=32, ge=4, le=256)
    #: Events in one POST /v1/events (413 beyond).
    max_events_per_request: int = Field(default=1000, ge=1, le=10_000)
    #: Requests per second allowed per API key (per client address without a key).
    rate_per_second: float = Field(default=50.0, gt=0)
    #: Requests a key may make at once before the rate applies (token-bucket size).
    rate_burst: int = Field(default=200, ge=1)
    #: Whether reads (events, batches, anchors, participants) need no API key.
    public_reads: bool = True
    #: Largest page of anchors or alerts.
    max_page_size: int = Field(default=500, ge=1, le=10_000)
    #: JSON-RPC calls in one batch request to /rpc.
    max_rpc_batch: int = Field(default=50, ge=1, le=1000)
    #: Widest eth_getLogs block range served by /rpc.
    max_log_range: int = Field(default=10_000, ge=1)
