"""A batch as the node knows it: who made it, who holds it, where it stands, its head."""

from __future__ import annotations

from dataclasses import dataclass

from node.events.typed_data import BatchStatus


@dataclass(slots=True)
class BatchState:
    batch_id: bytes
    producer_id: int
    custodian_id: int
    receiver_id: int
    status: BatchStatus
    head: bytes
    created_by: bytes
    identifier: str | None = None
