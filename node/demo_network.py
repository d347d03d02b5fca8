"""The two-node demo (``tracenode demo --network DIR``, docs/network.md): a local anvil,
node 1 that deploys (the root; the farm and the dairy) and node 2 that joins it (the
retailer), the demo's story across them (node/demo.py, :func:`run_network_demo`), then
both nodes served by ``tracenode serve`` child processes until :meth:`NetworkDemo.stop`.

Every wait is bounded; every process started here is stopped (killed at worst) when the
demo stops or fails part-way."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from eth_utils.address import to_checksum_address

from node.chain.anvil import launch_anvil, stop_anvil
from node.chain.deploy import Deployment
from node.context import Node, init_node
from node.demo import DemoReport, run_network_demo
from node.events.identifiers import PrefixKind
from node.exceptions import ConfigurationError
from node.network.registration import enrol_node
from node.runtime import Progress, quiet
from node.testing.serving import free_port, serve_command, wait_served

#: Seconds a node's server may take to answer /readyz, and to stop once told.
READY_TIMEOUT: Final = 60.0
STOP_TIMEOUT: Final = 30.0


@dataclass
class Served:
    """One node of the demo, served."""

    name: str
    data_dir: Path
    url: str
    process: subprocess.Popen[bytes] | None = None


@dataclass
class NetworkDemo:
    directory: Path
    chain_url: str
    anvil: subprocess.Popen[bytes]
    nodes: list[Served] = field(default_factory=list)
    report: DemoReport | None = None

    def alive(self) -> bool:
        processes = [self.anvil, *(n.process for n in self.nodes if n.process)]
        return all(p.poll() is None for p in processes)

    def stop(self) -> None:
        """Stop both servers (SIGTERM, then SIGKILL after STOP_TIMEOUT) and anvil."""
        running = [n.process for n in self.nodes if n.process and n.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        stop_anvil(self.anvil)


def start_network_demo(directory: Path, password: str, progress: Progress = quiet) -> NetworkDemo:
    """Everything up to two served nodes (see the module docstring). ``directory`` must
    be new or empty: the chain is a new anvil each time."""
    if directory.exists() and any(directory.iterdir()):
        raise ConfigurationError(
            f"{directory} is not empty: the two-node demo starts a new chain each run, "
            "give it a new directory"
        )
    progress("starting anvil")
    chain_url, anvil = launch_anvil()
    demo = NetworkDemo(directory, chain_url, anvil)
    try:
        _build(demo, password, progress)
    except BaseException:
        demo.stop()
        raise
    return demo


def _build(demo: NetworkDemo, password: str, progress: Progress) -> None:
    one, two = demo.directory / "node1", demo.directory / "node2"
    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    demo.nodes = [Served("node 1", one, urls[0]), Served("node 2", two, urls[1])]
    progress("node 1: keys, contracts deployed on anvil, store")
    # Both serve on 127.0.0.1: a development network, whose nodes fetch from each other on
    # loopback addresses (docs/network.md, "What is screened").
    first = init_node(one, password, chain_url=demo.chain_url, allow_private_peers=True)
    progress("node 2: keys, joining node 1's deployment, store")
    second = init_node(
        two,
        password,
        chain_url=demo.chain_url,
        join=Deployment(**first.deployment).batch_registry,
        allow_private_peers=True,
    )
    with Node(one) as node_1, Node(two) as node_2:
        progress("the root (node 1) registers both nodes; node 2 gets the handles 88")
        root = node_1.admin(password)
        enrol_node(
            node_1.registry,
            node_1.deployment,
            root,
            registrar=to_checksum_address(first.admin_address),
            url=urls[0],
        )
        node_1.registry.withdraw(root, kind=PrefixKind.HANDLE, prefix="")
        enrol_node(
            node_1.registry,
            node_1.deployment,
            root,
            registrar=to_checksum_address(second.admin_address),
            url=urls[1],
            relayer=to_checksum_address(second.node_address),
            ranges=((PrefixKind.HANDLE, "88"),),
        )
        demo.report = run_network_demo(node_1, node_2, password, progress)
    environment = os.environ | {"TRACENODE_PASSWORD": password}
    for served in demo.nodes:
        progress(f"serving {served.name} at {served.url}")
        port = served.url.rsplit(":", 1)[1]
        log = (served.data_dir / "serve.log").open("wb")
        served.process = subprocess.Popen(  # noqa: S603 - our own command, no shell
            serve_command(served.data_dir, port, "--public-url", served.url),
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()  # the child has its own handle
    for served in demo.nodes:
        _wait_ready(served)


def _wait_ready(served: Served) -> None:
    assert served.process is not None
    why = wait_served(served.url, served.process, READY_TIMEOUT)
    if why is not None:
        raise ConfigurationError(f"{served.name} {why}; see {served.data_dir / 'serve.log'}")
