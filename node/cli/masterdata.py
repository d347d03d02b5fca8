"""``tracenode masterdata set|show``: a participant's own master data (docs/epcis.md, "Master
data"): what one of its location, party or product codes is called, signed and anchored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from node.cli.common import DEFAULT_DATA_DIR, DataDir, commands, console, password, reports_errors
from node.cli.events import ApiKey, Gateway, Retries, retry_policy
from node.context import Node
from node.epcis.masterdata import (
    ADDRESS_ATTRIBUTES,
    build_element,
    cbv_attribute,
)
from node.epcis.names import about, about_json, sign_on_node
from node.exceptions import ConfigurationError
from node.keys.keystore import load_keystore
from node.sdk import Client

app = commands("A participant's own master data: names and addresses of its codes.")


@app.command(name="set")
@reports_errors
def set_command(
    code: Annotated[
        str,
        typer.Argument(help="An SGLN, PGLN or GTIN (EPC URN or Digital Link), or another URI."),
    ],
    key: Annotated[Path, typer.Option("--key", help="Your encrypted key file.", dir_okay=False)],
    name: Annotated[str | None, typer.Option("--name", help="Its name (mda#name).")] = None,
    street: Annotated[str | None, typer.Option("--street")] = None,
    city: Annotated[str | None, typer.Option("--city")] = None,
    state: Annotated[str | None, typer.Option("--state")] = None,
    postal_code: Annotated[str | None, typer.Option("--postal-code")] = None,
    country: Annotated[
        str | None, typer.Option("--country", help="ISO 3166-1 alpha-2 (mda#countryCode).")
    ] = None,
    attribute: Annotated[
        list[str] | None,
        typer.Option("--attribute", help="Any further attribute as URI=VALUE; repeatable."),
    ] = None,
    vocabulary: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="The vocabulary type URI (default: BusinessLocation for a GLN, Party for a "
            "PGLN, EPCClass for a GTIN).",
        ),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    gateway: Gateway = None,
    api_key: ApiKey = None,
    retries: Retries = 5,
) -> None:
    """Sign an assertion of what CODE is called with --key and submit it: to the local
    node, or with --gateway through the SDK. The password of the key file comes from
    TRACENODE_PASSWORD, else a prompt."""
    given = dict(
        zip(
            ("streetAddressOne", "city", "state", "postalCode", "countryCode"),
            (street, city, state, postal_code, country),
            strict=True,
        )
    )
    attributes: list[tuple[str, Any]] = [
        (cbv_attribute(n), given[n]) for n in ADDRESS_ATTRIBUTES if given.get(n) is not None
    ]
    for text in attribute or []:
        uri, sep, value = text.partition("=")
        if not sep:
            raise ConfigurationError(f"--attribute takes URI=VALUE, not {text[:60]!r}")
        attributes.append((uri, value))
    signer = load_keystore(key, password())
    if gateway is not None:
        with Client(gateway, api_key=api_key, key=signer, retry=retry_policy(retries)) as client:
            answer = client.assert_master_data(
                code, name=name, attributes=attributes, vocabulary=vocabulary
            )
        console.print(f"[green]{answer['outcome']}[/] {escape(code)} event {answer['eventHash']}")
        return
    named = [(cbv_attribute("name"), name)] if name is not None else []
    element = build_element(code, vocabulary=vocabulary, attributes=[*named, *attributes])
    with Node(data_dir) as node:
        node.sync_participants()
        signed = sign_on_node(node.store, node.domain, bytes(signer.key), element)
        result = node.ingest.submit(signed)
    console.print(f"[green]{result.outcome}[/] {escape(code)} event 0x{result.event_hash.hex()}")


@app.command(name="show")
@reports_errors
def show_command(
    code: Annotated[str, typer.Argument(help="A location, party or product code.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Every assertion the local node holds about CODE (as GET /v1/masterdata/{code})."""
    with Node(data_dir) as node:
        found = about(node.store, [code]).get(code)
    if found is None:
        raise ConfigurationError(f"{code[:80]!r} names a batch or is no URI: it has no master data")
    console.print_json(json.dumps(about_json(found)))
