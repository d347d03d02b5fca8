"""Write docs/gas.md: forge's gas report for every external function, and the gas per
relayed operation and per anchored event measured on the embedded chain.

    python scripts/gas_report.py      (after scripts/setup.sh)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORGE = ROOT / "node_modules" / ".bin" / "forge"


def forge_tables() -> str:
    """forge's gas report (unit tests), as Markdown tables."""
    output = subprocess.run(
        [str(FORGE), "test", "--gas-report", "--no-match-path", "contracts/test/invariant/*"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = []
    for raw in output.splitlines():
        if not raw.startswith("|") or set(raw) <= set("|-+= "):
            continue
        cells = [c.strip() for c in raw.strip("|").split("|")]
        title = re.match(r"contracts/src/\w+\.sol:(\w+) Contract", cells[0])
        if title:
            lines += ["", f"### {title.group(1)}", ""]
            continue
        if cells[0] == "Deployment Cost":
            lines += ["| deployment cost | size (bytes) |", "|---:|---:|"]
            continue
        if cells[0] == "Function Name":
            lines += [
                "",
                "| function | min | avg | median | max | calls |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            continue
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def relayed_tables() -> str:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gas_table.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def main() -> None:
    text = f"""# Gas

Regenerate with `python scripts/gas_report.py`. Solidity 0.8.30, optimizer 1,000 runs,
EVM `cancun`.

## Per relayed operation, and per anchored event

Real transactions on the embedded chain (py-evm), so the figures include the 21,000
base cost and calldata, shared across the operations of one `relay` call. Each
operation is signed by a participant and fully checked on-chain (signature, role,
status, nonce, head, custody; for COMMISSION, the identifier's licence). COMMISSION
creates two storage slots (the batch and its head) and carries its identifier's proof;
SHIP and RECEIVE update them. The anchor rows are a `commit` carrying only a
root: one write-once slot per window, so the cost per event falls with the window.

{relayed_tables()}
py-evm executes about 17 million gas per second on this machine
(../shared/TOOLCHAIN.md), so at batches of 100 the embedded chain can commit roughly
17,000,000 / 75,000 ≈ 230 commissions/s or 17,000,000 / 35,000 ≈ 490 shipments/s.

## The identifier check per created batch

Every batch a COMMISSION or TRANSFORM creates carries its identifier and prefix length,
and the contract hashes it, checks the split and reads the prefix's licence
(docs/contracts.md, "Identifier authority"). Measured on one COMMISSION through
`submit` (execution gas, between `gasleft()` readings; the signer committed once
before, so its nonce word and the registries are warm), GS1 identifier
`https://id.gs1.org/01/09506000134352/10/LOT-0001` under licence `9506000`:

| | execution gas |
|---|---:|
| COMMISSION on main, before the check (8b1bc94) | 63,392 |
| COMMISSION with the identifier check | 71,586 |
| the check | **8,194** |
| the proof's calldata (47-byte identifier, ABI-encoded) | 1,672 |

So about 9,900 gas per created batch, ~13 % of a relayed COMMISSION (75,362 at
batches of 100, table above). Gas is deterministic, so the two builds were measured one after the
other: `forge test --match-contract GasTest -vv` on this tree, and the same test body
on a `git archive` of 8b1bc94 (without the proof). Of the 8,194: one cold storage read
of the licence (2,100), the call into ParticipantRegistry and its ABI round trip, the
keccak of the identifier and the 14-digit GTIN check.

A RECEIVE adopting a lot never seen checks more: nobody else may hold a licence of any
prefix its identifier can be split at, whichever one its proof names
(`ParticipantRegistry.identifierHolders`, one call reading every split's licence). For a
GS1 lot that is nine prefix lengths, nine cold storage reads: the adoption of
`https://id.gs1.org/01/04012345000019/10/IMPORT-1` (nobody holds 4012345) costs 163,838
gas as a transaction (`forge test --isolate --match-test
test_ReceivingABatchNeverSeenAdopts --gas-report`), against 123,770 when only the proof's
split was read (adab8cf): 40,068 more, 43,360 of it the `identifierHolders` call.
Adoptions are rare (a lot entering from outside), and the check is what keeps a relayer
from naming a split nobody holds.

## The state root per window

Each window's state commitment (docs/proofs.md, "Completeness") costs two things:
`AnchorRegistry.anchorState(root, stateRoot)`, a transaction of its own after the
window's commit (BatchRegistry's `commit` does not carry it), and one more storage write
in every anchor (the node's latest root, which `anchorState` checks; it is in the anchor
rows above). Measured with
`forge test --isolate --match-test test_gas_StateRootPerWindow --gas-report` (each call a
transaction: 21,000 base, calldata and cold storage counted), and the same test body on a
`git archive` of main at f5682f9 for the anchor before:

| | gas |
|---|---:|
| `anchor` of a node's second window, before (f5682f9) | 55,225 |
| `anchor` of a node's second window, with the latest root kept | 60,289 |
| the extra write per window (a warm slot rewritten; 22,164 for a node's first) | **5,064** |
| `anchorState` transaction (of which 25,555 execution) | **51,100** |
| **per window, in all** | **56,164** |

That is about 56 gas per event in a 1,000-event window, ~560 in a window of 100: about as
much again as the anchor of a window of observations (above). The leaves cost no gas
(only their root goes on-chain); the node computes them from its store. When the
window's own transaction carries the state root (a BatchRegistry `commit` that passes it
to AnchorRegistry), the 21,000 base, the role check and the latest-root write go away,
leaving one new storage slot (~22,100) and 32 bytes of calldata.

## The anchor-only mode: one transaction per window, and a challenge

An anchor-only window (docs/contracts.md, "The anchor-only mode and the challenge game")
executes no event on-chain: one `AnchorRegistry.anchorWindow(root, stateRoot,
transitionRoot, firstSeq, eventCount)` transaction anchors it, whatever its events. It
writes two fresh storage slots: the anchor record (which also holds the node's number)
and one commitment to the two roots, `keccak256(abi.encode(stateRoot, transitionRoot))`;
the roots themselves travel in its `WindowAnchored` log, and every reader checks them
against the commitment. A challenge is paid by whoever proves a window fraudulent, and
names the window's roots (checked against the commitment first). Measured with
`forge test --isolate --match-test "test_gas_AnchorWindow|test_gas_Challenges|test_gas_Linkage"
--gas-report -vv` (each call a transaction: 21,000 base, calldata and cold storage
counted), and the same tests on a `git archive` of main at 9cff79f for the layout before
(three write-once slots: anchor, state root, transition root; two logs of roots):

| | before (9cff79f) | now |
|---|---:|---:|
| `anchorWindow` of a node's second window | 112,947 | **86,554** |
| per event, 1,000-event window / 100-event window | 113 / 1,129 | **86.6** / 866 |
| `challengeTransition`: a SHIP by a non-custodian, in a 64-event window | 119,038 | 120,506 |
| `challengeLinkage`: a fork across two windows | 85,213 | 89,553 |

Of the 26,393 saved: one fresh slot (22,100), one log (~1,800), and the node's latest root
no longer rewritten by an anchor-only window (zeroed instead: only `anchor`/`anchorFor`
windows take `anchorState`). A challenge pays ~2,000 (~4,300 for a linkage, two windows)
more: its roots' calldata and the commitment check. `anchor` and `anchorState` (the
enforced mode) cost what they did (61,603 and 51,056 in the same reports, against 61,652
and 51,100).

## Every external function (forge gas report over the unit tests)

Min/avg/median/max over the calls the tests make, failures included (a reverted call
is cheap), so read the median for the ordinary case.
{forge_tables()}
"""
    (ROOT / "docs" / "gas.md").write_text(text)


if __name__ == "__main__":
    main()
