"""Participants (registered on-chain by the admin), the identifier prefixes they are
licensed (licensed and revoked by the admin, read by anyone from the licence mirror), and
their API keys."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Path, Response
from starlette.concurrency import run_in_threadpool

from api.body import JsonBodyRoute
from api.deps import AdminDep, GatewayDep, ReaderDep, RegistrarDep
from api.problems import problem_responses
from api.schemas import (
    PREFIX_PATTERN,
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    KeyHistory,
    LicenceIn,
    LicenceOut,
    OpenIdentifiersIn,
    OpenIdentifiersOut,
    ParticipantIn,
    ParticipantOut,
    PrefixOut,
)
from node.context import Node
from node.events.digits import is_decimal
from node.events.identifiers import PrefixKind, prefix_kind
from node.events.typed_data import Role
from node.exceptions import (
    InvalidParametersError,
    ParticipantNotFoundError,
    PrefixNotFoundError,
)
from node.participants.sync import CURSOR as PARTICIPANTS_CURSOR
from node.store.apikeys import ApiKeyRecord
from node.store.records import LicenceRecord

router = APIRouter(prefix="/v1", tags=["participants"], route_class=JsonBodyRoute)

#: One registrar transaction at a time (they share the admin key's nonce).
REGISTRAR_LOCK = threading.Lock()

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
        with REGISTRAR_LOCK:
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
        if is_decimal(ref):
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
        licences = node.store.licences.of_holder(conn, pid)
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
        licences=licence_outs(node, licences),
    )


# ----- identifier prefixes' licences -----

PrefixPath = Annotated[
    str,
    Path(
        max_length=64,
        pattern=PREFIX_PATTERN,
        description="A GS1 company prefix (4-12 digits) or a handle prefix (88.123.45).",
    ),
]


@router.post(
    "/participants/{address}/licences",
    status_code=201,
    response_model=LicenceOut,
    summary="License an identifier prefix to a participant of this node (admin)",
    responses={
        201: {
            "description": "Licensed and mirrored",
            "headers": {
                "Location": {
                    "required": True,
                    "description": "/v1/prefixes/{prefix}",
                    "schema": {"type": "string"},
                }
            },
        },
        **problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503),
    },
)
async def license_prefix(
    ref: ParticipantRefPath,
    body: LicenceIn,
    response: Response,
    gateway: GatewayDep,
    _admin: AdminDep,
    registrar: RegistrarDep,
) -> LicenceOut:
    """Sends ParticipantRegistry.license from the node's registrar key and waits for it.
    The prefix must lie in a range delegated to this node (403 otherwise), overlap no
    held licence (409) and be licensed to a participant this node registered (403);
    ``validUntil`` 0 or after ``validFrom`` (422)."""
    node = gateway.node
    pid = resolve_participant(node, ref)
    if body.valid_until and body.valid_until <= body.valid_from:
        raise InvalidParametersError(
            "validUntil must be 0 (no end) or after validFrom",
            [{"field": "body.validUntil", "message": "not after validFrom"}],
        )
    kind = prefix_kind(body.prefix)

    def license_() -> None:
        with REGISTRAR_LOCK:
            node.registry.license(
                registrar,
                pid,
                kind=kind,
                prefix=body.prefix,
                valid_from=body.valid_from,
                valid_until=body.valid_until,
            )
            node.sync_participants()

    await run_in_threadpool(license_)
    response.headers["Location"] = f"/v1/prefixes/{body.prefix}"
    return prefix_out(node, body.prefix).licences[-1]


@router.put(
    "/open-identifiers",
    response_model=OpenIdentifiersOut,
    summary="Allow or refuse open identifiers for a node (admin; the root authority's key)",
    responses=problem_responses(400, 401, 403, 413, 422, 429, 503),
)
async def set_open_identifiers(
    body: OpenIdentifiersIn, gateway: GatewayDep, _admin: AdminDep, registrar: RegistrarDep
) -> OpenIdentifiersOut:
    """Sends ParticipantRegistry.setOpenIdentifiers from this node's registrar key, which
    must be the root's (403 otherwise), for ``registrar`` (default: this node's). Every
    node then reads the policy from the chain when one of that node's participants creates
    a batch under an identifier of no prefix kind."""
    node = gateway.node
    target = to_checksum_address(body.registrar or node.config.admin_address)

    def send() -> None:
        with REGISTRAR_LOCK:
            node.registry.set_open_identifiers(registrar, registrar=target, allowed=body.allowed)

    await run_in_threadpool(send)
    return OpenIdentifiersOut(registrar=target, allowed=body.allowed)


@router.get(
    "/participants/{address}/licences",
    response_model=list[LicenceOut],
    summary="Every licence a participant was granted, oldest first",
    responses=problem_responses(401, 404, 422, 429),
)
def participant_licences(
    ref: ParticipantRefPath, gateway: GatewayDep, _r: ReaderDep
) -> list[LicenceOut]:
    node = gateway.node
    pid = resolve_participant(node, ref)
    with node.store.read() as conn:
        licences = node.store.licences.of_holder(conn, pid)
    return licence_outs(node, licences)


@router.get(
    "/prefixes/{prefix}",
    response_model=PrefixOut,
    summary="Who holds an identifier prefix, and every licence it had",
    responses=problem_responses(401, 404, 422, 429),
)
def get_prefix(prefix: PrefixPath, gateway: GatewayDep, _r: ReaderDep) -> PrefixOut:
    return prefix_out(gateway.node, prefix)


@router.delete(
    "/prefixes/{prefix}",
    response_model=PrefixOut,
    summary="Revoke a prefix's held licence (admin)",
    responses=problem_responses(401, 403, 404, 422, 429, 503),
)
async def revoke_prefix(
    prefix: PrefixPath, gateway: GatewayDep, _admin: AdminDep, registrar: RegistrarDep
) -> PrefixOut:
    """Sends ParticipantRegistry.revoke from the node's registrar key: the licence ends at
    that block and the prefix may be licensed again. 404 when no licence of it is held;
    403 when another node's registrar granted it."""
    node = gateway.node

    def revoke() -> None:
        with REGISTRAR_LOCK:
            node.registry.revoke(registrar, kind=prefix_kind(prefix), prefix=prefix)
            node.sync_participants()

    await run_in_threadpool(revoke)
    return prefix_out(node, prefix)


def prefix_out(node: Node, prefix: str) -> PrefixOut:
    kind = prefix_kind(prefix)
    with node.store.read() as conn:
        records = node.store.licences.of_prefix(conn, kind, prefix)
    licences = licence_outs(node, records)
    if not licences:
        raise PrefixNotFoundError(f"no licence of {prefix} was ever granted")
    current = next((out for out in reversed(licences) if out.valid), None)
    return PrefixOut(prefix=prefix, kind=licences[0].kind, current=current, licences=licences)


def licence_outs(node: Node, records: list[LicenceRecord]) -> list[LicenceOut]:
    """``records`` as the API shows them, judged at the mirror's head."""
    names: dict[int, str | None] = {}
    with node.store.read() as conn:
        head = node.store.participants.cursor(conn, PARTICIPANTS_CURSOR) or 0
        for holder in {r.licence.holder for r in records}:
            row = node.store.participants.get(conn, holder)
            names[holder] = row.name if row else None
    return [
        LicenceOut(
            prefix=r.prefix,
            kind="gs1" if r.kind is PrefixKind.GS1 else "handle",
            holder=r.licence.holder,
            holder_name=names[r.licence.holder],
            valid_from=r.licence.valid_from,
            valid_until=r.licence.valid_until or None,
            held=r.licence.held,
            valid=r.licence.valid_at(head),
            valid_at=head,
            granted_block=r.block,
            revoked_block=r.revoked_block,
        )
        for r in records
    ]


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
