"""``tracenode qr ID``: the QR code for a batch's label, as SVG or PNG.

The code carries the batch's URL on a node (:func:`node.labels.label_url`, the rule the
gateway's ``/v1/batches/{id}/qr.svg`` uses too): a Digital Link keeps its GS1 path on the
node's host, other identifiers go through its resolver. Scanned, it opens the buyer page.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from node.cli.apikeys import _store as open_store
from node.cli.common import DEFAULT_DATA_DIR, DataDir, errors, reports_errors
from node.events.identifiers import IdentifierKind, parse_identifier
from node.exceptions import BatchNotFoundError, ConfigurationError
from node.labels import QrFormat, label_url, render_qr

#: ``tracenode serve``'s default address; labels for real use need the node's public URL.
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


@reports_errors
def qr(
    identifier: Annotated[
        str,
        typer.Argument(help="The batch: GS1 Digital Link, EPC URN, handle, or 0x batch id."),
    ],
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url",
            envvar="TRACENODE_WEB_PUBLIC_URL",
            help="The node's public address, as the label should carry it.",
        ),
    ] = DEFAULT_BASE_URL,
    fmt: Annotated[
        QrFormat | None,
        typer.Option(
            "--format",
            case_sensitive=False,
            help="svg or png (default: from -o's suffix, else svg).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here instead of to stdout.", dir_okay=False),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Write the QR code of a batch's label URL (SVG or PNG). A 0x batch id is looked up in
    the node's store (DATA_DIR) for its identifier; other forms need no node."""
    parsed = parse_identifier(identifier)
    if parsed.kind is IdentifierKind.BATCH_ID:
        with open_store(data_dir, None) as store, store.read() as conn:
            state = store.batches.get(conn, bytes(parsed.batch_id))
        if state is None:
            raise BatchNotFoundError(f"{data_dir} holds no batch {parsed.canonical}")
        if state.identifier:
            parsed = parse_identifier(state.identifier)
    if fmt is None:
        fmt = (
            QrFormat.PNG if output is not None and output.suffix.lower() == ".png" else QrFormat.SVG
        )
    url = label_url(parsed, base_url)
    image = render_qr(url, fmt)
    if output is not None:
        try:
            output.write_bytes(image)
        except OSError as exc:
            raise ConfigurationError(f"cannot write {output}: {exc.strerror}") from None
        errors.print(f"wrote {output} ({fmt.value}): {url}", highlight=False, soft_wrap=True)
        return
    if fmt is QrFormat.PNG and sys.stdout.isatty():
        raise ConfigurationError("a PNG is not for a terminal: write it with -o FILE")
    sys.stdout.buffer.write(image)
    sys.stdout.buffer.flush()
    errors.print(url, highlight=False, soft_wrap=True)
