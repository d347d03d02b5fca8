"""Fast secp256k1 signer recovery for EIP-712 digests (coincurve, no generic encoder).

Signatures are 65 bytes, ``r ‖ s ‖ v`` as wallets produce them (``v`` 27/28 or 0/1).
The rules are the contract's (OpenZeppelin ``ECDSA.tryRecover``): ``s`` in the lower
half of the curve order, ``r`` and ``s`` non-zero, a recovered key that exists — so a
signature the node accepts is one the chain accepts, and malleated copies are refused.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Final

from coincurve import PrivateKey, PublicKey

from node.events.hashing import keccak
from node.exceptions import InvalidSignatureError

SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N: Final = SECP256K1_N // 2
SIGNATURE_LENGTH: Final = 65


def check_signature(signature: bytes) -> bytes:
    """The 65-byte recoverable form coincurve takes (``r ‖ s ‖ recid``), or an error."""
    if len(signature) != SIGNATURE_LENGTH:
        raise InvalidSignatureError(
            f"a signature is {SIGNATURE_LENGTH} bytes, not {len(signature)}"
        )
    v = signature[64]
    recid = v - 27 if v >= 27 else v
    if recid not in (0, 1):
        raise InvalidSignatureError(f"signature v must be 27 or 28, not {v}")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if not 0 < r < SECP256K1_N:
        raise InvalidSignatureError("signature r is out of range")
    if not 0 < s <= _HALF_N:
        raise InvalidSignatureError("signature s must be in the lower half of the curve order")
    return signature[:64] + bytes((recid,))


def recover_signer(digest: bytes, signature: bytes) -> bytes:
    """The 20-byte address that signed ``digest``; :class:`InvalidSignatureError` otherwise."""
    recoverable = check_signature(signature)
    try:
        public = PublicKey.from_signature_and_message(recoverable, digest, hasher=None)
    except ValueError as exc:
        raise InvalidSignatureError("the signature does not recover to a public key") from exc
    return keccak(public.format(compressed=False)[1:])[-20:]


def sign_digest(digest: bytes, private_key: bytes) -> bytes:
    """A 65-byte ``r ‖ s ‖ v`` signature (low ``s``, ``v`` 27/28), as wallets make them."""
    raw = PrivateKey(private_key).sign_recoverable(digest, hasher=None)
    return raw[:64] + bytes((raw[64] + 27,))


def address_of(private_key: bytes) -> bytes:
    """The 20-byte address of a private key."""
    public = PrivateKey(private_key).public_key.format(compressed=False)
    return keccak(public[1:])[-20:]


def _recover_or_none(digest: bytes, signature: bytes) -> bytes | None:
    try:
        return recover_signer(digest, signature)
    except InvalidSignatureError:
        return None


#: Seconds between a worker's looks at whether the process it works for is alive.
PARENT_POLL_S: Final = 1.0


def _follow_parent(pid: int) -> None:
    """In a worker process: exit once process ``pid`` (the node it recovers for) is gone.
    A worker waiting for work never notices its node's death otherwise (it holds both
    ends of its queue), and would outlive a node killed with SIGKILL, its fork server
    with it."""

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            try:
                os.kill(pid, 0)
            except (ProcessLookupError, PermissionError):  # gone (its pid someone else's)
                os._exit(0)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()


def recover_signers(pairs: Sequence[tuple[bytes, bytes]]) -> list[bytes | None]:
    """The signer of each (digest, signature) pair, in this process; None where the
    signature does not recover."""
    return [_recover_or_none(digest, signature) for digest, signature in pairs]


#: Something that recovers many signers at once: :func:`recover_signers`, or a
#: :class:`SignatureVerifier`'s methods.
Recover = Callable[[Sequence[tuple[bytes, bytes]]], list[bytes | None]]


class SignatureVerifier:
    """Recovers signers of many digests, across processes when the batch is large.

    Small batches stay in this process (a round trip to a worker costs more than it
    saves); large ones are split over ``workers`` processes. ``None`` marks a signature
    that does not recover.
    """

    def __init__(self, workers: int | None = None, parallel_threshold: int = 256) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.parallel_threshold = parallel_threshold
        self._pool: ProcessPoolExecutor | None = None

    def recover_many(self, pairs: Sequence[tuple[bytes, bytes]]) -> list[bytes | None]:
        if self.workers <= 1 or len(pairs) < self.parallel_threshold:
            return recover_signers(pairs)
        pool = self._started()
        # This process takes the first share itself rather than idling while it waits.
        size = -(-len(pairs) // self.workers)
        futures = [
            pool.submit(recover_signers, pairs[i : i + size]) for i in range(size, len(pairs), size)
        ]
        results = recover_signers(pairs[:size])
        for future in futures:
            results.extend(future.result())
        return results

    def recover_apart(self, pairs: Sequence[tuple[bytes, bytes]]) -> list[bytes | None]:
        """As :meth:`recover_many`, but all in the worker processes while the calling
        thread waits (releasing the GIL): for background checks in a server process
        whose request threads are its bottleneck (the integrity monitor re-checks every
        anchored event's signature in the gateway's process). In this process when there
        is no worker, or nothing to recover."""
        if self.workers <= 1 or not pairs:
            return recover_signers(pairs)
        pool = self._started()
        size = -(-len(pairs) // (self.workers - 1))
        futures = [
            pool.submit(recover_signers, pairs[i : i + size]) for i in range(0, len(pairs), size)
        ]
        return [address for future in futures for address in future.result()]

    def warm(self) -> None:
        """Start the worker processes now (``tracenode serve`` at start-up), not at the
        first large batch."""
        if self.workers > 1:
            self._started().submit(recover_signers, []).result()

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Forked from a clean server process, not from this one: a node forks while
            # its other threads may hold locks (a fork copies them held). The server
            # imports this module only, not the program's __main__ (serve's whole app).
            context = get_context("forkserver")
            context.set_forkserver_preload([__name__])
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers - 1,
                mp_context=context,
                initializer=_follow_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
