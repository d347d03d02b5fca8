"""``POST /rpc``: a read-only Ethereum JSON-RPC endpoint onto the node's chain, so outside
tools (cast, ethers, web3) can check anchored roots and custody without trusting the node's
own answers about them.

The methods and their checks are node/chain/jsonrpc.py's; where the calls run, and every bound
that keeps them from stalling anchoring, api/rpc_readers.py's. Errors follow JSON-RPC 2.0
(HTTP 200 with an ``error`` member), as clients expect; the rate limit is HTTP 429 with
``Retry-After``, as on every route.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import refusals
from api.body import read_json
from api.deps import Gateway, GatewayDep, ReaderDep, caller_key
from api.problems import problem_responses
from node.chain.jsonrpc import EXECUTION_REVERTED, INVALID_REQUEST, error
from node.exceptions import TooManyItemsError
from node.monitor.refusals import attempt

router = APIRouter(tags=["chain"])

#: An eth_getLogs answering more logs than this is an expensive call (docs/monitor.md).
EXPENSIVE_LOGS: Final = 1000


@router.post(
    "/rpc",
    summary="Read-only Ethereum JSON-RPC onto the node's chain",
    response_class=JSONResponse,
    responses={
        200: {
            "description": "JSON-RPC 2.0 response (or a list, for a batch); JSON-RPC errors "
            "(unknown method, invalid params or request, a revert) are answered with 200 too",
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/JsonRpcResponse"},
                            {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/JsonRpcResponse"},
                            },
                        ]
                    }
                }
            },
        },
        **problem_responses(400, 413, 415, 429),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/JsonRpcRequest"},
                            {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/JsonRpcRequest"},
                            },
                        ]
                    }
                }
            },
        }
    },
)
async def rpc(request: Request, gateway: GatewayDep, reader: ReaderDep) -> JSONResponse:
    document = await read_json(request)
    settings = gateway.settings
    calls = document if isinstance(document, list) else [document]
    if not calls:
        return JSONResponse(error(None, INVALID_REQUEST, "empty batch"))
    if len(calls) > settings.max_rpc_batch:
        raise TooManyItemsError(
            f"{len(calls)} calls in one batch; at most {settings.max_rpc_batch}"
        )
    client = caller_key(request, reader)
    gateway.rpc_limiter.check(client, cost=len(calls))
    async with gateway.rpc.client_slot(client):
        answers = await gateway.rpc.answer(calls)
    await _record(request, gateway, list(zip(calls, answers, strict=True)))
    return JSONResponse(answers if isinstance(document, list) else answers[0])


async def _record(
    request: Request, gateway: Gateway, calls: list[tuple[Any, dict[str, Any]]]
) -> None:
    """Refused calls (anything but a revert) and expensive ones, for the monitor's record
    (api/refusals.py): the method's name is kept, never the params."""
    who = refusals.origin(request)
    for call, answer in calls:
        method = call.get("method") if isinstance(call, dict) else None
        name = method[:64] if isinstance(method, str) else ""
        failed = answer.get("error")
        if isinstance(failed, dict) and failed.get("code") != EXECUTION_REVERTED:
            code = "rpc-refused"
        elif name == "eth_getLogs" and len(answer.get("result") or ()) > EXPENSIVE_LOGS:
            code = "rpc-expensive"
        else:
            continue
        refused = attempt(who, code, detail=name)
        await run_in_threadpool(gateway.refusals.note, refused)
