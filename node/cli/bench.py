"""``tracenode bench``: measure the targets of DESIGN.md §9 on this machine."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from node.bench.ingest import measure_ingest
from node.cli.common import console


def bench(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    events: Annotated[
        int, typer.Option(help="Signed events to ingest (timed).", min=1000)
    ] = 20_000,
    bulk: Annotated[int, typer.Option(help="Events per bulk call.", min=1)] = 1_000,
    workers: Annotated[
        int, typer.Option(help="Processes verifying signatures (default: all cores).", min=1)
    ] = 0,
    preload: Annotated[
        int, typer.Option(help="Events stored before the timed run (e.g. 1000000).", min=0)
    ] = 0,
) -> None:
    """Measure ingest (signed events verified and durably stored) against raw recovery."""
    figures = measure_ingest(
        events=events,
        bulk_size=bulk,
        workers=workers or os.cpu_count() or 1,
        preload=preload,
        progress=preload > 0 and not as_json,
    )
    result = asdict(figures) | {
        "ingest_vs_raw": round(figures.ingest_vs_raw, 3),
        "cores": os.cpu_count(),
    }
    result["ingest_events_per_s"] = round(figures.ingest_events_per_s, 1)
    result["raw_recover_per_s"] = round(figures.raw_recover_per_s, 1)
    result["peak_rss_mb"] = round(figures.peak_rss_mb, 1)
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table(title="tracenode bench")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target (DESIGN.md §9)")
    table.add_row(
        "ingest, events/s (bulk, verified, durable)",
        f"{figures.ingest_events_per_s:,.0f}",
        "≥ 10,000 on 2 cores",
    )
    table.add_row("raw secp256k1 recovery, /s (1 core)", f"{figures.raw_recover_per_s:,.0f}", "")
    table.add_row("ingest ÷ raw", f"{figures.ingest_vs_raw:.2f}", "≥ 0.5")
    table.add_row("peak RSS, MB", f"{figures.peak_rss_mb:,.0f}", "flat as the store grows")
    table.add_row(
        "events timed / preloaded / bulk / workers",
        f"{events:,} / {preload:,} / {bulk} / {figures.workers}",
        "",
    )
    console.print(table)
