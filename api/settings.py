"""The gateway's settings: limits, rate and access (TRACENODE_API_*), and the buyer page's
public address and explorer link (TRACENODE_WEB_*)."""

from __future__ import annotations

import re
from typing import Final

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from node.chain.jsonrpc import DEFAULT_CALL_GAS
from node.exceptions import ConfigurationError
from node.labels import normalise_base_url

_EXPLORER: Final = re.compile(r"(?i:https?)://[^\s\"'<>\\`{}]+")


class ApiSettings(BaseSettings):
    """Every limit the gateway enforces (docs/api.md lists them)."""

    model_config = SettingsConfigDict(env_prefix="TRACENODE_API_", frozen=True)

    #: Largest request body, in bytes (413 beyond).
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    #: Seconds a request line and its headers may take to arrive, from the connection's
    #: opening or its previous answer (408 and disconnected beyond; an idle connection is
    #: just closed): uvicorn has no such deadline (api/headers_timeout.py).
    headers_timeout: float = Field(default=10.0, gt=0, le=600)
    #: Seconds a request's body may pause between two pieces (408 beyond): a client that
    #: sends part of a body and goes silent is answered and disconnected.
    body_idle_timeout: float = Field(default=10.0, gt=0, le=600)
    #: Seconds a request's whole body may take to arrive (408 beyond): a body trickling in
    #: a byte at a time cannot hold a connection longer. 4 MiB in 60 s is ~560 kbit/s.
    body_timeout: float = Field(default=60.0, gt=0, le=3600)
    #: Deepest nesting of arrays and objects in a JSON body (400 beyond), checked before
    #: the body is parsed.
    max_json_depth: int = Field(default=32, ge=4, le=256)
    #: Events in one POST /v1/events (413 beyond).
    max_events_per_request: int = Field(default=1000, ge=1, le=10_000)
    #: Seconds a new event may be predicted to wait for its proof before submissions are
    #: refused (503 backlogged, with Retry-After); 0 turns backpressure off.
    max_proof_delay: float = Field(default=300.0, ge=0, le=86_400)
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
    #: Refusals of one caller and problem code written in full per minute to the
    #: monitor's refusal record; beyond, they are counted (docs/monitor.md).
    refusal_sample_per_minute: int = Field(default=10, ge=1, le=1000)
    #: Rows the refusal record takes per minute from this process, whatever the callers.
    refusal_rows_per_minute: int = Field(default=600, ge=10, le=100_000)
    #: Asynchronous EPCIS capture jobs (``Prefer: respond-async``) that may wait or run at
    #: once on the store (503 epcis-capture-queue-full, with Retry-After, beyond).
    capture_queue: int = Field(default=16, ge=1, le=1000)
    #: Events an asynchronous capture job ingests per transaction: its progress is written
    #: after each such step.
    capture_step: int = Field(default=200, ge=1, le=10_000)
    #: Gas an /rpc eth_call gets at most: twice the most any read of ours needs (docs/api.md).
    rpc_call_gas: int = Field(default=DEFAULT_CALL_GAS, ge=100_000, le=30_000_000)
    #: Seconds an /rpc request (one call or a whole batch) may run; then cut off (-32005).
    rpc_timeout: float = Field(default=5.0, gt=0, le=60)
    #: /rpc requests running at once (reader processes, on the embedded chain).
    rpc_readers: int = Field(default=2, ge=1, le=16)
    #: /rpc requests that may wait for a reader, and for how many seconds (-32005 beyond).
    rpc_queue: int = Field(default=8, ge=0, le=1000)
    rpc_queue_wait: float = Field(default=2.0, ge=0, le=60)
    #: /rpc calls per second per client (a batch counts its calls); 429 beyond. What a
    #: request costs the readers is bounded by its deadline and the client's concurrency;
    #: this bounds the volume (the verifier page asks one call per question, 20 a batch).
    rpc_rate_per_second: float = Field(default=50.0, gt=0)
    #: /rpc calls a client may make at once before the rate applies (at least a batch).
    rpc_rate_burst: int = Field(default=500, ge=1)
    #: /rpc requests one client may have running at once; 429 beyond.
    rpc_client_concurrency: int = Field(default=2, ge=1, le=100)
    #: Whether webhooks may go to loopback addresses (local test receivers only: never in
    #: production). Private, link-local and metadata addresses are refused regardless.
    webhooks_allow_loopback: bool = False


class WebSettings(BaseSettings):
    """The page's settings, from TRACENODE_WEB_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="TRACENODE_WEB_", frozen=True)

    #: The node's public address, as labels carry it (e.g. https://trace.example.com).
    public_url: str | None = None
    #: A block explorer's transaction URL, ``{tx}`` standing for the 0x hash.
    explorer_tx_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        return normalise_base_url(value) if value else None

    @field_validator("explorer_tx_url")
    @classmethod
    def _explorer(cls, value: str | None) -> str | None:
        if not value:
            return None
        template = value.strip()
        if (
            len(template) > 256
            or template.count("{tx}") != 1
            or not _EXPLORER.fullmatch(template.replace("{tx}", "0x"))
        ):
            raise ConfigurationError(
                "TRACENODE_WEB_EXPLORER_TX_URL must be an http(s) URL with {tx} once, "
                "e.g. https://explorer.example/tx/{tx}"
            )
        return template


def load_web_settings() -> tuple[WebSettings | None, str | None]:
    """The page's settings from the environment, or None and what is wrong with them."""
    try:
        return WebSettings(), None
    except ValidationError as exc:
        error = exc.errors()[0]
        return None, f"TRACENODE_WEB_{str(error['loc'][0]).upper()}: {error['msg']}"
