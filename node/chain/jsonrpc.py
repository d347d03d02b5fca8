"""The JSON-RPC methods ``POST /rpc`` serves, checked and answered one call at a time.

Served: eth_chainId, eth_blockNumber, eth_getBlockByNumber, eth_getTransactionReceipt,
eth_getLogs (at most ``max_log_range`` blocks), eth_call (gas capped), eth_getCode, and
net_version. Every other method — every write among them — is refused with JSON-RPC error
-32601. Errors follow JSON-RPC 2.0 (an ``error`` member), as clients expect.

:func:`answer` runs wherever the chain is read: in a ``/rpc`` reader process on the
embedded chain (node/chain/rpc_reader.py), in the gateway when it forwards to an external
node (api/rpc_readers.py). It imports no web framework: a reader starts on py-evm alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from eth_bloom.bloom import BloomFilter
from eth_tester.exceptions import TransactionFailed
from hexbytes import HexBytes
from web3 import EthereumTesterProvider, Web3
from web3.exceptions import BlockNotFound
from web3.middleware import combine_middleware
from web3.types import RPCEndpoint, RPCResponse

from node.chain.availability import chain_unavailable
from node.chain.embedded import is_embedded
from node.chain.errors import revert_data

#: Sends one raw JSON-RPC request, answers the raw JSON-RPC response.
RawRequest = Callable[[str, list[Any]], RPCResponse]

READ_METHODS: Final = frozenset(
    {
        "eth_chainId",
        "eth_blockNumber",
        "eth_getBlockByNumber",
        "eth_getTransactionReceipt",
        "eth_getLogs",
        "eth_call",
        "eth_getCode",
        "net_version",
        # reads that cast and ethers make while preparing a call
        "eth_getTransactionCount",
        "eth_getBalance",
        "eth_gasPrice",
    }
)
#: The gas an eth_call gets at most (TRACENODE_API_RPC_CALL_GAS). The costliest read of
#: ours is the verifier's ReadMany call of 12 questions (node/chain/reader.py): ~1.3M gas
#: at worst (measured: docs/api.md); single view calls (cast, ethers, the page's
#: verifier) need ~60-210k. 3M is over twice the most. Gas does not bound time (py-evm's
#: pure-Python precompiles run ~4 us a gas): the request's deadline does (rpc_readers.py).
DEFAULT_CALL_GAS: Final = 3_000_000
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
SERVER_ERROR: Final = -32000
EXECUTION_REVERTED: Final = 3
#: EIP-1474's "limit exceeded": the call ran past its time, or the node is busy.
LIMIT_EXCEEDED: Final = -32005
_BLOCK_TAGS: Final = frozenset({"latest", "earliest", "pending", "safe", "finalized"})
_QUANTITY: Final = re.compile(r"0x(0|[1-9a-fA-F][0-9a-fA-F]{0,15})")
_DATA: Final = re.compile(r"0x([0-9a-fA-F]{2})*")
_SNAKE: Final = re.compile(r"_([a-z])")
#: Keys eth-tester adds that JSON-RPC does not have (receipts carry status, not a root).
_DROPPED: Final = frozenset({"state_root", "type"})


def raw_requests(w3: Web3, *, outer: tuple[Any, ...] = ()) -> RawRequest:
    """A function sending a raw JSON-RPC request through ``w3``'s provider, through the
    middleware ``outer`` but without web3's request and result formatting (/rpc serves
    what the chain says)."""
    provider = w3.provider
    if not isinstance(provider, EthereumTesterProvider):
        return lambda method, params: provider.make_request(RPCEndpoint(method), params)
    # Only ``outer`` and eth-tester's own formatting (not the ENS and validation layers
    # web3 adds for its Python API, which choke on raw JSON-RPC filter params).
    request = combine_middleware(
        middleware=(*outer, *provider._middleware),
        w3=w3,
        provider_request_fn=provider.make_request,
    )
    return lambda method, params: request(RPCEndpoint(method), params)


@dataclass(frozen=True, slots=True)
class RpcLimits:
    """What one call may cost: gas for eth_call, blocks for eth_getLogs."""

    call_gas: int = DEFAULT_CALL_GAS
    max_log_range: int = 10_000


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def answer(w3: Web3, send: RawRequest, call: Any, limits: RpcLimits) -> dict[str, Any]:
    """The JSON-RPC response to ``call`` (one member of a batch), errors included."""
    if not isinstance(call, dict):
        return error(None, INVALID_REQUEST, "a call must be a JSON object")
    call_id = call.get("id")
    if not (call_id is None or isinstance(call_id, str | int)) or isinstance(call_id, bool):
        return error(None, INVALID_REQUEST, "id must be a string, a number or null")
    method = call.get("method")
    params = call.get("params", [])
    if call.get("jsonrpc") != "2.0" or not isinstance(method, str):
        return error(call_id, INVALID_REQUEST, "expected jsonrpc 2.0 with a method")
    if method not in READ_METHODS:
        return error(
            call_id, METHOD_NOT_FOUND, f"{method[:64]} is not served (this endpoint is read-only)"
        )
    if not isinstance(params, list):
        return error(call_id, INVALID_PARAMS, "params must be a list")
    try:
        checked = _check_params(method, params, w3, limits)
        result = _forward(w3, send, method, checked)
    except RpcError as refused:
        return error(call_id, refused.code, refused.message, refused.data)
    return {"jsonrpc": "2.0", "id": call_id, "result": result}


def _affordable(w3: Web3, call: dict[str, Any]) -> dict[str, Any]:
    """py-evm checks the sender's balance even for eth_call (a real node runs calls at gas
    price 0): cap the gas at what ``from`` can pay at the base fee, and run the call from
    the chain's funded default account when ``from`` can pay for too little."""
    if "from" not in call:
        return call
    base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0)) or 1
    affordable = int(w3.eth.get_balance(Web3.to_checksum_address(call["from"]))) // base_fee
    if affordable >= 1_000_000:
        gas = hex(min(int(call["gas"], 16), affordable))
        return call | {"gas": gas, "gasPrice": hex(base_fee)}
    return {k: v for k, v in call.items() if k != "from"}


def _forward(w3: Web3, send: RawRequest, method: str, params: list[Any]) -> Any:
    if method == "eth_call" and is_embedded(w3):
        params = [_affordable(w3, params[0]), *params[1:]]
    try:
        response = send(method, params)
    except Exception as exc:
        if chain_unavailable(exc) is not None:
            raise  # the node behind is down: 503 chain-unavailable (api/problems.py)
        data = revert_data(exc)
        if data is not None:
            raise RpcError(EXECUTION_REVERTED, "execution reverted", "0x" + data.hex()) from None
        if isinstance(exc, TransactionFailed) or "execution reverted" in str(exc):
            raise RpcError(EXECUTION_REVERTED, "execution reverted", "0x") from None
        raise RpcError(INVALID_PARAMS, f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if "error" in response:
        failed = response["error"]
        if isinstance(failed, dict):
            raise RpcError(
                int(failed.get("code", SERVER_ERROR)), str(failed.get("message", "error"))[:300]
            )
        raise RpcError(SERVER_ERROR, str(failed)[:300])
    result = response.get("result")
    return _rpc_value(result, key=None) if is_embedded(w3) else result


def _check_params(method: str, params: list[Any], w3: Web3, limits: RpcLimits) -> list[Any]:
    """Shape checks the backend would otherwise answer with an exception, and the caps."""
    arity = {
        "eth_chainId": (0, 0),
        "eth_blockNumber": (0, 0),
        "net_version": (0, 0),
        "eth_getBlockByNumber": (2, 2),
        "eth_getTransactionReceipt": (1, 1),
        "eth_getLogs": (1, 1),
        "eth_call": (1, 2),
        "eth_getCode": (1, 2),
        "eth_getTransactionCount": (1, 2),
        "eth_getBalance": (1, 2),
        "eth_gasPrice": (0, 0),
    }[method]
    if not arity[0] <= len(params) <= arity[1]:
        raise RpcError(INVALID_PARAMS, f"{method} takes {arity[0]}..{arity[1]} params")
    if method == "eth_getBlockByNumber":
        _block(params[0])
        if not isinstance(params[1], bool):
            raise RpcError(INVALID_PARAMS, "the second param is a boolean")
    elif method == "eth_getTransactionReceipt":
        _data(params[0], 32)
    elif method in ("eth_getCode", "eth_getTransactionCount", "eth_getBalance"):
        _data(params[0], 20)
        if len(params) == 2:
            _block(params[1])
    elif method == "eth_call":
        params = _call_params(params, limits.call_gas)
    elif method == "eth_getLogs":
        params = [_log_filter(params[0], w3, limits.max_log_range)]
    if arity == (1, 2) and len(params) == 1:
        params = [*params, "latest"]  # the block is optional; eth-tester's formatters need it
    return params


def _call_params(params: list[Any], cap: int) -> list[Any]:
    call = params[0]
    if not isinstance(call, dict):
        raise RpcError(INVALID_PARAMS, "the call is an object")
    ignored = {"chainId", "nonce", "type", "maxFeePerGas", "maxPriorityFeePerGas", "accessList"}
    allowed = {"from", "to", "data", "input", "gas", "value", "gasPrice"} | ignored
    if set(call) - allowed:
        raise RpcError(INVALID_PARAMS, f"unsupported call fields: {sorted(set(call) - allowed)}")
    if "to" in call:
        _data(call["to"], 20)
    elif "data" not in call and "input" not in call:
        # Without 'to' the data is creation code run and thrown away (nothing is deployed):
        # how ReadMany answers many questions in one call (node/chain/reader.py).
        raise RpcError(INVALID_PARAMS, "eth_call needs 'to', or creation code in 'data'")
    if "from" in call:
        _data(call["from"], 20)
    for key in ("data", "input"):
        if key in call:
            _data(call[key], None)
    for key in ("gas", "value", "gasPrice"):
        if key in call:
            _quantity(call[key])
    call = {k: v for k, v in call.items() if k not in ignored}
    if "input" in call:
        call.setdefault("data", call.pop("input"))
    call.pop("gasPrice", None)
    gas = int(call["gas"], 16) if "gas" in call else cap
    call["gas"] = hex(min(gas, cap))
    rest = params[1:]
    if rest:
        _block(rest[0])
    return [call, *rest]


def _log_filter(query: Any, w3: Web3, max_log_range: int) -> dict[str, Any]:
    """The filter, checked; on the embedded chain, a ``blockHash`` (EIP-234) as the range of
    its one block, which eth-tester takes."""
    if not isinstance(query, dict):
        raise RpcError(INVALID_PARAMS, "the filter is an object")
    allowed = {"fromBlock", "toBlock", "address", "topics", "blockHash"}
    if set(query) - allowed:
        raise RpcError(INVALID_PARAMS, f"unsupported filter fields: {sorted(set(query) - allowed)}")
    addresses = query.get("address")
    if addresses is not None:
        for address in addresses if isinstance(addresses, list) else [addresses]:
            _data(address, 20)
        if isinstance(addresses, list) and len(addresses) > 32:
            raise RpcError(INVALID_PARAMS, "at most 32 addresses")
    topics = query.get("topics")
    if topics is not None:
        if not isinstance(topics, list) or len(topics) > 4:
            raise RpcError(INVALID_PARAMS, "topics is a list of at most 4")
        for topic in topics:
            for item in topic if isinstance(topic, list) else [topic]:
                if item is not None:
                    _data(item, 32)
    if "blockHash" in query:
        _data(query["blockHash"], 32)
        if "fromBlock" in query or "toBlock" in query:
            raise RpcError(INVALID_PARAMS, "blockHash excludes fromBlock and toBlock (EIP-234)")
        if not is_embedded(w3):
            return query
        try:
            number = int(w3.eth.get_block(HexBytes(query["blockHash"]))["number"])
        except BlockNotFound:
            raise RpcError(SERVER_ERROR, "no block with that hash") from None
        rest = {k: v for k, v in query.items() if k != "blockHash"}
        return rest | {"fromBlock": hex(number), "toBlock": hex(number)}
    head = w3.eth.block_number
    start = _block_number(query.get("fromBlock", "latest"), head)
    end = _block_number(query.get("toBlock", "latest"), head)
    if end - start + 1 > max_log_range:
        raise RpcError(INVALID_PARAMS, f"at most {max_log_range} blocks per eth_getLogs")
    return query


def _block_number(value: Any, head: int) -> int:
    _block(value)
    if value in _BLOCK_TAGS:
        return 0 if value == "earliest" else head
    return int(value, 16)


def _block(value: Any) -> None:
    if value in _BLOCK_TAGS:
        return
    _quantity(value)


def _quantity(value: Any) -> None:
    if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
        raise RpcError(INVALID_PARAMS, "expected a hex quantity (0x..., at most 64 bits)")


def _data(value: Any, length: int | None) -> None:
    if not isinstance(value, str) or not _DATA.fullmatch(value):
        raise RpcError(INVALID_PARAMS, "expected 0x-prefixed hex data")
    if length is not None and len(value) != 2 + 2 * length:
        raise RpcError(INVALID_PARAMS, f"expected {length} bytes of hex")


def _rpc_value(value: Any, key: str | None) -> Any:
    """eth-tester's answers in JSON-RPC form: quantities and data as hex, camelCase keys."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if key == "logsBloom":
            return "0x" + value.to_bytes(256, "big").hex()
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value
    if isinstance(value, dict) or hasattr(value, "items"):
        is_transaction = "gas" in value and "nonce" in value and "data" in value
        is_log = "logIndex" in value or "log_index" in value
        out: dict[str, Any] = {}
        for name, item in value.items():
            if name in _DROPPED and (is_log or name != "type"):
                continue
            if name == "to" and item == "":
                item = None  # a contract creation
            renamed = _SNAKE.sub(lambda m: m[1].upper(), name)
            if is_transaction and name == "data":
                renamed = "input"
            out[renamed] = _rpc_value(item, renamed)
        if "cumulativeGasUsed" in out and "logs" in out and "logsBloom" not in out:
            out["logsBloom"] = _bloom(out["logs"])
        return out
    if isinstance(value, list | tuple):
        return [_rpc_value(item, None) for item in value]
    return str(value)


def _bloom(logs: list[dict[str, Any]]) -> str:
    """A receipt's logs bloom (eth-tester's receipts lack it; clients require it)."""
    bloom = BloomFilter()
    for log in logs:
        bloom.add(bytes.fromhex(log["address"][2:]))
        for topic in log["topics"]:
            bloom.add(bytes.fromhex(topic[2:]))
    return "0x" + int(bloom).to_bytes(256, "big").hex()


def error(call_id: Any, code: int, message: str, data: str | None = None) -> dict[str, Any]:
    """A JSON-RPC error response."""
    member: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        member["data"] = data
    return {"jsonrpc": "2.0", "id": call_id, "error": member}
