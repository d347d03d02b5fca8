"""Participants (registered on-chain by the admin) and their API keys."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Path, Response
from starlette.concurrency import run_in_threadpool

from api.deps import AdminDep, GatewayDep, ReaderDep, RegistrarDep
from api.problems import problem_responses
from api.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    KeyHistory,
    ParticipantIn,
    ParticipantOut,
)
from node.context import Node
from node.events.typed_data import Role
from node.exceptions import InvalidParametersError, ParticipantNotFoundError
from node.store.apikeys import ApiKeyRecord

router = APIRouter(prefix="/v1", tags=["participants"])

#: One registrar transaction at a time (they share the admin key's nonce).
_REGISTRAR = threading.Lock()

ParticipantRefPath = Annotated[
    str,
    Path(
        alias="address",
        pattern=r"^(0[xX][0-9a-fA-F]{40}|[0-9]{1,10})$",
        description="Any address the participant signs or signed with, or its numeric id.",
    ),
]


@router.post(
    "/participants",
    status_code=201,
    response_model=ParticipantOut,
    summary="Register a participant on-chain (admin)",
    responses={
        201: {
            "description": "Registered and mirrored",
            "headers": {
                "Location": {
                    "required": True,
                    "description": "/v1/participants/{address}",
                    "schema": {"type": "string", "pattern": "^/v1/participants/0x[0-9a-fA-F]{40}$"},
                }
            },
        },
        **problem_responses(400, 401, 403, 409, 413, 422, 429, 503),
    },
)
async def register_participant(
    body: ParticipantIn,
    response: Response,
    gateway: GatewayDep,
    _admin: AdminDep,
    registrar: RegistrarDep,
) -> ParticipantOut:
    """Sends ParticipantRegistry.register from the node's registrar key and waits for it;
    the node's mirror is brought up to date before the answer."""
    if len(body.name.encode()) > 64 or len(body.prefix.encode()) > 64:
        raise InvalidParametersError(
            "name and prefix are at most 64 bytes of UTF-8",
            [{"field": "body.name", "message": "at most 64 bytes"}],
        )
    if int(body.address, 16) == 0:
        raise InvalidParametersError(
            "the zero address cannot sign",
            [{"field": "body.address", "message": "zero address"}],
        )
    roles = Role(0)
    for name in body.roles:
        roles |= Role[name.upper()]
    node = gateway.node

    def register() -> int:
        with _REGISTRAR:
            pid = node.registry.register(
                registrar,
                key=to_checksum_address(body.address),
                name=body.name,
                roles=roles,
                prefix=body.prefix,
            )
            node.sync_participants()
            return pid

    pid = await run_in_threadpool(register)
    response.headers["Location"] = f"/v1/participants/{to_checksum_address(body.address)}"
    return participant_out(node, pid)


@router.get(
    "/participants/{address}",
    response_model=ParticipantOut,
    summary="A participant, by any of its addresses or its id",
    responses=problem_responses(401, 404, 422, 429),
)
def get_participant(ref: ParticipantRefPath, gateway: GatewayDep, _r: ReaderDep) -> ParticipantOut:
    node = gateway.node
    return participant_out(node, resolve_participant(node, ref))


def resolve_participant(node: Node, ref: str) -> int:
    """A participant id from an address (current or former key) or a decimal id."""
    with node.store.read() as conn:
        if ref.isascii() and ref.isdigit():
            if node.store.participants.get(conn, int(ref)) is not None:
                return int(ref)
        else:
            key = bytes.fromhex(ref[2:])
            view = node.store.participants.signers(conn, [key]).get(key)
            if view is not None:
                return view.participant_id
    raise ParticipantNotFoundError(f"no participant {ref}")


def participant_out(node: Node, pid: int) -> ParticipantOut:
    with node.store.read() as conn:
        row = node.store.participants.get(conn, pid)
        keys = node.store.participants.keys(conn, pid)
    if row is None:
        raise ParticipantNotFoundError(f"no participant {pid}")
    return ParticipantOut(
        id=row.id,
        name=row.name,
        address=to_checksum_address(row.key),
        roles=[r.name.lower() for r in Role if r & row.roles and r.name],
        prefix=row.prefix,
        active=row.active,
        updated_block=row.updated_block,
        keys=[
            KeyHistory(
                address=to_checksum_address(k.key),
                valid_from_block=k.valid_from,
                valid_until_block=k.valid_until,
            )
            for k in keys
        ],
    )


# ----- API keys -----


def _key_out(record: ApiKeyRecord, **extra: Any) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "participant_id": record.participant_id,
        "admin": record.admin,
        "label": record.label,
        "created_at": record.created_at,
        "revoked_at": record.revoked_at,
        **extra,
    }


@router.post(
    "/apikeys",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Create an API key for a participant, or an admin key (admin)",
    responses=problem_responses(400, 401, 403, 404, 413, 422, 429),
)
def create_api_key(body: ApiKeyIn, gateway: GatewayDep, _admin: AdminDep) -> ApiKeyCreated:
    """The response holds the key (``token``) this once; the node keeps only its hash."""
    if body.admin == bool(body.participant):
        raise InvalidParametersError(
            "give either a participant or admin=true",
            [{"field": "body.participant", "message": "a participant, or admin=true"}],
        )
    pid = None
    if body.participant:  # an address or a decimal id (ApiKeyIn's pattern)
        pid = resolve_participant(gateway.node, body.participant)
    created = gateway.keys.create(participant_id=pid, admin=body.admin, label=body.label)
    return ApiKeyCreated.model_validate(_key_out(created.record, token=created.token))


@router.get(
    "/apikeys",
    response_model=list[ApiKeyOut],
    summary="List API keys, without their secrets (admin)",
    responses=problem_responses(401, 403, 429),
)
def list_api_keys(gateway: GatewayDep, _admin: AdminDep) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(_key_out(r)) for r in gateway.keys.list()]


@router.delete(
    "/apikeys/{key_id}",
    response_model=ApiKeyOut,
    summary="Revoke an API key (admin)",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def revoke_api_key(
    key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")], gateway: GatewayDep, _admin: AdminDep
) -> ApiKeyOut:
    return ApiKeyOut.model_validate(_key_out(gateway.keys.revoke(key_id)))
