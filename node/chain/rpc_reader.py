"""A ``/rpc`` reader process (api/rpc_readers.py starts it): JSON-RPC calls answered on a
read-only snapshot of the embedded chain, off the commit worker's chain and lock.

Requests come as JSON lines on stdin (``{"calls": [...], "timeout": seconds}``), answers
go as JSON lines to stdout (``{"answers": [...]}``, or ``{"failed": why}`` when the chain
cannot be read); it ends when stdin does. Each request's calls are answered on one
snapshot, the last block committed when it arrived, and cut off by a timer at its
deadline: the calls answered by then are sent, the others are not. It imports py-evm and
node/chain/jsonrpc.py, no web framework, so that it starts fast.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any, Final

from node.chain.embedded import ChainSnapshot
from node.chain.jsonrpc import RpcLimits, answer, raw_requests

#: How much lower a reader's CPU priority is than the gateway's (``nice``).
READER_NICENESS: Final = 10


def main(argv: list[str]) -> None:
    """The entry point: ``CHAIN_PATH CALL_GAS MAX_LOG_RANGE``."""
    path, gas, log_range = argv
    serve(Path(path), RpcLimits(call_gas=int(gas), max_log_range=int(log_range)))


class _Late(BaseException):
    """The request's deadline passed (raised by the reader's timer, inside py-evm)."""


def _late(signum: int, frame: FrameType | None) -> None:
    raise _Late


def serve(chain_path: Path, limits: RpcLimits) -> None:
    """A reader process: answer each request's calls on one snapshot of the chain, cut off
    by a timer at the request's deadline. Requests come as JSON lines on stdin, answers go
    as JSON lines to stdout; it ends when stdin does."""
    os.nice(READER_NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the gateway stops us, not Ctrl-C
    signal.signal(signal.SIGALRM, _late)
    out = os.fdopen(os.dup(1), "wb")  # answers only: anything else printed goes to stderr
    os.dup2(2, 1)

    def say(message: Any) -> None:
        out.write(json.dumps(message).encode() + b"\n")
        out.flush()

    try:
        snapshot = ChainSnapshot(chain_path)
    except Exception as exc:
        say({"failed": f"{type(exc).__name__}: {exc}"})
        return
    send = raw_requests(snapshot.w3)
    say({"ready": True})
    for line in sys.stdin.buffer:
        job = json.loads(line)
        answers: list[dict[str, Any]] = []
        outcome: dict[str, Any] = {"answers": answers}
        try:
            signal.setitimer(signal.ITIMER_REAL, float(job["timeout"]))
            with snapshot.latest() as w3:
                try:
                    for call in job["calls"]:
                        answers.append(answer(w3, send, call, limits))
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        except _Late:
            pass
        except Exception as exc:
            outcome = {"failed": f"{type(exc).__name__}: {str(exc)[:200]}"}
        say(outcome)
