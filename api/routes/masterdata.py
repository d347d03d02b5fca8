"""Master data (docs/epcis.md, "Master data"): a participant's own signed assertion of what a
location, a party or a product code is called, and every assertion about a code.

``POST /v1/masterdata`` takes a submission as ``POST /v1/events`` does, whose payload is a
vocabulary element (node/epcis/masterdata.py) and whose event is an OBSERVE of the
element's record key, signed by the API key's participant: it is an event like any other,
anchored with the rest. ``GET /v1/masterdata/{code}`` lists every assertion about the code
(any spelling of a GS1 key), each with its asserter, status and proof, and the one a
reader is shown.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from api.body import read_json, submission_schema
from api.deps import GatewayDep, ParticipantKeyDep, ReaderDep
from api.problems import problem_responses
from api.schemas import MasterDataAbout, MasterDataResult
from node.epcis.masterdata import element_key, parse_element
from node.epcis.names import about, about_json, master_data_link
from node.events.submission import SignedEvent, parse_submission
from node.exceptions import InvalidEventError, InvalidMasterDataError
from node.ingest.service import Outcome

router = APIRouter(prefix="/v1/masterdata", tags=["master data"])

Code = Annotated[
    str,
    Path(
        alias="code",
        min_length=1,
        max_length=512,
        description="A location, party or product code: an SGLN / PGLN / GTIN in any "
        "spelling (EPC URN, GS1 Digital Link), an SSCC or any other URI that names no batch.",
    ),
]


@router.post(
    "",
    status_code=202,
    response_model=MasterDataResult,
    summary="Assert what one of your codes is called: a signed, anchored master-data event",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": submission_schema()}},
        }
    },
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422, 429, 503),
)
async def assert_master_data(
    request: Request, response: Response, gateway: GatewayDep, key: ParticipantKeyDep
) -> MasterDataResult:
    """The submission's ``payload`` is the vocabulary element; ``identifiers`` may be left
    out (the element's code is its record key). Refused with its problem, nothing stored:
    a payload that is no vocabulary element, an element that is malformed, too large or
    names a batch, an event that is no OBSERVE of the element's code, a signer other than
    the key's participant."""
    await run_in_threadpool(gateway.backlog.admit, gateway.settings.max_proof_delay)
    document = await read_json(request)
    if not isinstance(document, dict):
        raise InvalidEventError("the body must be one submission object")
    if "payload" not in document:
        raise InvalidMasterDataError("the submission needs its vocabulary element", field="payload")
    element = parse_element(document["payload"])
    parsed = parse_submission(document)
    signed = SignedEvent(
        parsed.event,
        parsed.signature,
        parsed.payload,
        parsed.identifiers or (element.key.canonical,),
    )
    (result,) = await run_in_threadpool(
        gateway.node.ingest.submit_many, [signed], as_participant=key.participant_id
    )
    if result.error is not None:
        raise result.error
    response.headers["Location"] = master_data_link(element.code)
    return MasterDataResult(
        index=0,
        code=element.code,
        outcome="asserted" if result.outcome is Outcome.ACCEPTED else "duplicate",
        event_hash="0x" + result.event_hash.hex(),
    )


@router.get(
    "/{code:path}",
    response_model=MasterDataAbout,
    summary="Every assertion about a code, each with who says it, and the one shown",
    responses=problem_responses(401, 422, 429),
)
def get_master_data(code: Code, gateway: GatewayDep, _reader: ReaderDep) -> MasterDataAbout:
    """``shown`` follows the rule of docs/epcis.md "Master data": the brand owner's latest
    anchored assertion (the holder of the code's GS1 company prefix), else the latest
    anchored one by anyone; never one not anchored. ``assertions`` lists them all, oldest
    first, each with its status and proof."""
    element_key(code)  # a code that names a batch, or no URI, is refused (422)
    found = about(gateway.node.store, [code])[code]
    return MasterDataAbout.model_validate(about_json(found))
