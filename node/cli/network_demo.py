"""``tracenode demo --network DIR``: the two-node demo on a local anvil
(node/demo_network.py), served until Ctrl-C."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

from node.cli.common import console, steps
from node.demo_network import NetworkDemo, start_network_demo


def run_network_demo_command(directory: Path, secret: str) -> None:
    """Start the demo, print both nodes' pages, serve until Ctrl-C (or a process of the
    demo stops), then stop every process it started."""
    with steps() as progress:
        demo = start_network_demo(directory, secret, progress)
    try:
        _show(demo)
        while demo.alive():
            time.sleep(0.5)
        console.print("a process of the demo stopped; stopping the others", highlight=False)
    except KeyboardInterrupt:
        console.print("stopping both nodes and anvil", highlight=False)
    finally:
        demo.stop()


def _show(demo: NetworkDemo) -> None:
    assert demo.report is not None
    first, second = demo.nodes
    console.print(
        f"{demo.report.anchored} events anchored and {demo.report.rejected} rejected in "
        f"{demo.report.windows} commit transaction(s) by two nodes on anvil "
        f"({demo.chain_url}); data in {demo.directory}",
        highlight=False,
    )
    for name, lot in demo.report.lots.items():
        console.print(f"  {name:7} {lot}", highlight=False)
    cheese = quote(demo.report.lots["cheese"], safe="")
    milk = quote(demo.report.lots["milk"], safe="")
    console.print(
        f"\n{first.name} (farm, dairy): {first.url}\n"
        f"  the cheese as node 1 saw it leave: {first.url}/?id={cheese}\n"
        f"{second.name} (retailer):     {second.url}\n"
        f"  the cheese on the retailer's shelf: {second.url}/?id={cheese}\n"
        f"  the milk, resolved by node 2 from node 1: {second.url}/v1/resolve/{milk}\n"
        "Ctrl-C stops both nodes and anvil.",
        highlight=False,
        markup=False,
    )
