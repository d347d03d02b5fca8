"""Signer recovery follows the contract's rules (OpenZeppelin ECDSA.tryRecover) and agrees
with eth-account, in one process or spread over several."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from coincurve import PublicKey
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from node.events.hashing import keccak
from node.events.signatures import (
    SECP256K1_N,
    SIGNATURE_LENGTH,
    SignatureVerifier,
    address_of,
    check_signature,
    recover_signer,
    sign_digest,
)
from node.exceptions import InvalidSignatureError

HALF_N = SECP256K1_N // 2
SECP256K1_P = 2**256 - 2**32 - 977

private_keys = st.binary(min_size=32, max_size=32).filter(
    lambda key: 0 < int.from_bytes(key, "big") < SECP256K1_N
)
digests = st.binary(min_size=32, max_size=32)

KEY = keccak(b"test key")
DIGEST = keccak(b"test digest")


def split(signature: bytes) -> tuple[int, int, int]:
    return (
        int.from_bytes(signature[:32], "big"),
        int.from_bytes(signature[32:64], "big"),
        signature[64],
    )


def join(r: int, s: int, v: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((v,))


def malleated(signature: bytes) -> bytes:
    """The high-s twin of a signature: ``s' = n - s`` with the parity of ``v`` flipped."""
    r, s, v = split(signature)
    return join(r, SECP256K1_N - s, 55 - v)


def coincurve_address(digest: bytes, recoverable: bytes) -> bytes:
    """What libsecp256k1 recovers from ``r ‖ s ‖ recid``, with no range rules applied."""
    public = PublicKey.from_signature_and_message(recoverable, digest, hasher=None)
    return keccak(public.format(compressed=False)[1:])[-20:]


# --- Signing and recovery --------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(private_keys, digests)
def test_recover_signer_returns_the_address_that_signed(key: bytes, digest: bytes) -> None:
    signature = sign_digest(digest, key)

    assert len(signature) == SIGNATURE_LENGTH
    r, s, v = split(signature)
    assert 0 < r < SECP256K1_N
    assert 0 < s <= HALF_N
    assert v in (27, 28)
    assert recover_signer(digest, signature) == address_of(key)


@settings(max_examples=100, deadline=None)
@given(private_keys, digests)
def test_sign_digest_and_address_of_match_eth_account(key: bytes, digest: bytes) -> None:
    theirs = Account.unsafe_sign_hash(digest, key)
    ours = sign_digest(digest, key)

    assert split(ours) == (theirs.r, theirs.s, theirs.v)
    assert ours == bytes(theirs.signature)
    assert address_of(key) == bytes.fromhex(Account.from_key(key).address[2:])


def test_v_may_be_27_28_or_0_1() -> None:
    seen = set()
    for nonce in range(16):
        digest = keccak(DIGEST + bytes((nonce,)))
        signature = sign_digest(digest, KEY)
        r, s, v = split(signature)
        seen.add(v)

        assert recover_signer(digest, join(r, s, v - 27)) == address_of(KEY)
        assert check_signature(signature) == signature[:64] + bytes((v - 27,))
        assert check_signature(join(r, s, v - 27)) == signature[:64] + bytes((v - 27,))
    assert seen == {27, 28}


def test_a_signature_over_another_digest_recovers_another_address() -> None:
    signature = sign_digest(DIGEST, KEY)

    other = recover_signer(keccak(b"another digest"), signature)

    assert len(other) == 20
    assert other != address_of(KEY)


def test_the_wrong_parity_recovers_another_address() -> None:
    r, s, v = split(sign_digest(DIGEST, KEY))

    assert recover_signer(DIGEST, join(r, s, 55 - v)) != address_of(KEY)


# --- Refusals --------------------------------------------------------------------------


def good() -> bytes:
    return sign_digest(DIGEST, KEY)


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(b"", id="empty"),
        pytest.param(good()[:64], id="64 bytes"),
        pytest.param(good() + b"\x00", id="66 bytes"),
        pytest.param(good()[:64] + bytes((29,)), id="v=29"),
        pytest.param(good()[:64] + bytes((26,)), id="v=26"),
        pytest.param(good()[:64] + bytes((2,)), id="v=2"),
        pytest.param(good()[:64] + bytes((255,)), id="v=255"),
        pytest.param(join(0, split(good())[1], split(good())[2]), id="r=0"),
        pytest.param(join(split(good())[0], 0, split(good())[2]), id="s=0"),
        pytest.param(join(SECP256K1_N, split(good())[1], 27), id="r=n"),
        pytest.param(join(2**256 - 1, split(good())[1], 27), id="r=2**256-1"),
        pytest.param(join(split(good())[0], HALF_N + 1, 27), id="s=n/2+1"),
        pytest.param(join(split(good())[0], SECP256K1_N, 27), id="s=n"),
        pytest.param(malleated(good()), id="high-s twin"),
    ],
)
def test_malformed_signatures_are_refused(signature: bytes) -> None:
    with pytest.raises(InvalidSignatureError):
        check_signature(signature)
    with pytest.raises(InvalidSignatureError):
        recover_signer(DIGEST, signature)


@settings(max_examples=100, deadline=None)
@given(private_keys, digests)
def test_the_malleated_twin_would_recover_but_is_refused(key: bytes, digest: bytes) -> None:
    twin = malleated(sign_digest(digest, key))
    _, s, v = split(twin)
    assert s > HALF_N

    # libsecp256k1 itself recovers the same signer from the twin: only the rule refuses it.
    assert coincurve_address(digest, twin[:64] + bytes((v - 27,))) == address_of(key)
    with pytest.raises(InvalidSignatureError):
        recover_signer(digest, twin)


def test_s_at_half_the_order_is_allowed() -> None:
    r, _, _ = split(good())

    assert check_signature(join(r, HALF_N, 28)) == join(r, HALF_N, 1)


def test_an_r_with_no_point_on_the_curve_does_not_recover() -> None:
    # r = 5: 5**3 + 7 is not a square mod p, so no point has x = 5.
    assert pow((5**3 + 7) % SECP256K1_P, (SECP256K1_P - 1) // 2, SECP256K1_P) != 1
    signature = join(5, 7, 27)
    check_signature(signature)  # in range: refused by recovery, not by the range rules

    with pytest.raises(InvalidSignatureError):
        recover_signer(DIGEST, signature)


# --- SignatureVerifier -----------------------------------------------------------------


def pairs_with_invalid(count: int) -> tuple[list[tuple[bytes, bytes]], dict[int, str]]:
    """``count`` (digest, signature) pairs from a few keys, some of them invalid."""
    keys = [keccak(b"key %d" % i) for i in range(5)]
    pairs = []
    for i in range(count):
        digest = keccak(b"digest %d" % i)
        pairs.append((digest, sign_digest(digest, keys[i % len(keys)])))
    broken = {
        0: "high-s twin",
        count // 3: "v=29",
        count // 2 - 1: "64 bytes",
        count // 2: "r=0",
        count // 2 + 1: "high-s twin",
        2 * count // 3: "s=0",
        count - 1: "v=29",
    }
    for index, kind in broken.items():
        digest, signature = pairs[index]
        r, s, v = split(signature)
        pairs[index] = (
            digest,
            {
                "high-s twin": malleated(signature),
                "v=29": join(r, s, 29),
                "64 bytes": signature[:64],
                "r=0": join(0, s, v),
                "s=0": join(r, 0, v),
            }[kind],
        )
    return pairs, broken


@pytest.fixture(params=[2, 3])
def parallel_verifier(request: pytest.FixtureRequest) -> Iterator[SignatureVerifier]:
    verifier = SignatureVerifier(workers=request.param)
    try:
        yield verifier
    finally:
        verifier.close()


@pytest.mark.parametrize("count", [600, 601])
def test_recover_many_is_the_same_across_processes(
    parallel_verifier: SignatureVerifier, count: int
) -> None:
    pairs, broken = pairs_with_invalid(count)
    assert len(pairs) >= parallel_verifier.parallel_threshold

    serial = SignatureVerifier(workers=1).recover_many(pairs)
    parallel = parallel_verifier.recover_many(pairs)

    assert parallel_verifier._pool is not None  # the parallel path ran
    assert parallel == serial
    assert len(parallel) == count
    assert [i for i, signer in enumerate(parallel) if signer is None] == sorted(broken)
    keys = [keccak(b"key %d" % i) for i in range(5)]
    for i, signer in enumerate(parallel):
        if i not in broken:
            assert signer == address_of(keys[i % len(keys)]), i
    assert all(serial[i] == recover_signer(*pairs[i]) for i in range(count) if i not in broken)


@pytest.mark.parametrize("count", [1, 20, 601])
def test_recover_apart_recovers_in_the_workers_alone_what_recover_many_does(
    parallel_verifier: SignatureVerifier, count: int
) -> None:
    pairs, broken = pairs_with_invalid(count) if count > 1 else ([], {})
    if count == 1:
        digest = keccak(b"one")
        pairs = [(digest, sign_digest(digest, keccak(b"key 0")))]

    apart = parallel_verifier.recover_apart(pairs)

    assert parallel_verifier._pool is not None  # even a small batch went to the workers
    assert apart == SignatureVerifier(workers=1).recover_many(pairs)
    assert [i for i, signer in enumerate(apart) if signer is None] == sorted(broken)
    assert parallel_verifier.recover_apart([]) == []
    assert SignatureVerifier(workers=1).recover_apart(pairs) == apart  # no worker: here


def test_small_batches_stay_in_process() -> None:
    verifier = SignatureVerifier(workers=4)
    try:
        pairs, broken = pairs_with_invalid(20)
        results = verifier.recover_many(pairs)

        assert verifier._pool is None
        assert [i for i, signer in enumerate(results) if signer is None] == sorted(broken)
        assert verifier.recover_many([]) == []
    finally:
        verifier.close()


def test_close_is_idempotent_and_the_verifier_still_works_after(
    parallel_verifier: SignatureVerifier,
) -> None:
    pairs, _ = pairs_with_invalid(300)
    first = parallel_verifier.recover_many(pairs)

    parallel_verifier.close()
    parallel_verifier.close()
    assert parallel_verifier._pool is None

    assert parallel_verifier.recover_many(pairs) == first
    parallel_verifier.close()
    SignatureVerifier(workers=2).close()  # never started: nothing to close
