"""``GET /v1/info``: what a client needs to sign and submit events to this node."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import GatewayDep
from api.schemas import Info
from node import __version__
from node.events.identifiers import MAX_IDENTIFIER_LENGTH
from node.events.payload import MAX_PAYLOAD_BYTES
from node.events.submission import MAX_LIST_ITEMS
from node.events.typed_data import Action, BatchStatus, Role, TraceEvent, typed_data

router = APIRouter(prefix="/v1", tags=["info"])


@router.get(
    "/info",
    response_model=Info,
    summary="Chain, contracts, EIP-712 domain and types, limits and the commit backlog",
)
def info(gateway: GatewayDep) -> Info:
    """The EIP-712 ``domain``, ``types`` and ``primaryType`` are exactly those the contracts
    verify: add an event as ``message`` and sign the whole with ``eth_signTypedData_v4``."""
    node, settings, policy = gateway.node, gateway.settings, gateway.commit.policy
    backlog = gateway.backlog.current()
    document = typed_data(TraceEvent(Action.COMMISSION), node.domain)
    deployment = node.deployment
    return Info.model_validate(
        {
            "chainId": deployment.chain_id,
            "nodeVersion": __version__,
            "nodeAddress": node.config.node_address,
            "custodyMode": node.custody.value,
            "contracts": {
                "participantRegistry": deployment.participant_registry,
                "batchRegistry": deployment.batch_registry,
                "anchorRegistry": deployment.anchor_registry,
                "deploymentBlock": deployment.block_number,
                "custodyChallenge": deployment.custody_challenge,
            },
            "backlog": {
                "queued": backlog.queued,
                "predictedSeconds": round(backlog.predicted_seconds, 1),
                "capacityEventsPerSecond": backlog.capacity,
                "stalled": backlog.stalled,
                "maxProofDelaySeconds": settings.max_proof_delay,
            },
            "commitPolicy": {
                "intervalSeconds": policy.interval,
                "maxEvents": policy.max_events,
                "maxOperations": policy.max_operations,
                "confirmations": policy.confirmations,
            },
            "eip712": {
                "types": document["types"],
                "primaryType": document["primaryType"],
                "domain": document["domain"],
            },
            "actions": {a.name: int(a) for a in Action},
            "roles": {r.name: int(r) for r in Role if r.name},
            "batchStatuses": {s.name: int(s) for s in BatchStatus},
            "limits": {
                "maxBodyBytes": settings.max_body_bytes,
                "maxJsonDepth": settings.max_json_depth,
                "maxEventsPerRequest": settings.max_events_per_request,
                "maxIdentifierLength": MAX_IDENTIFIER_LENGTH,
                "ratePerSecond": settings.rate_per_second,
                "rateBurst": settings.rate_burst,
                "maxPageSize": settings.max_page_size,
                "maxPayloadBytes": MAX_PAYLOAD_BYTES,
                "maxBatchListItems": MAX_LIST_ITEMS,
            },
            "publicReads": settings.public_reads,
        }
    )
