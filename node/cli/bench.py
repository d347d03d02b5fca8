"""``tracenode bench``: measure the targets of docs/design.md §9 on this machine."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Annotated

import typer

from node.bench.commit import measure_commit
from node.bench.ingest import measure_ingest
from node.bench.provenance import measure_provenance
from node.cli.common import show, steps, table


def bench(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    events: Annotated[
        int, typer.Option(help="Signed events to ingest (timed).", min=1000)
    ] = 20_000,
    bulk: Annotated[int, typer.Option(help="Events per bulk call.", min=1)] = 1_000,
    workers: Annotated[
        int, typer.Option(help="Processes verifying signatures (0: all cores).", min=0)
    ] = 0,
    commit: Annotated[
        bool, typer.Option(help="Also measure commits and anchoring on the embedded chain.")
    ] = True,
    provenance: Annotated[
        bool,
        typer.Option(help="Also measure provenance, downstream trace and accept-to-proof."),
    ] = True,
    preload: Annotated[
        int,
        typer.Option(help="Fill a second store with this many events, then compare.", min=0),
    ] = 0,
    rounds: Annotated[
        int,
        typer.Option(help="With --preload: rounds alternating the full and a small store.", min=1),
    ] = 5,
) -> None:
    """Measure ingest (signed events verified and durably stored) against raw recovery,
    commits on the embedded chain, and provenance queries. Each step is shown on stderr as
    it starts; the figures go to stdout."""
    with steps() as progress:
        figures = measure_ingest(
            events=events,
            bulk_size=bulk,
            workers=workers or os.cpu_count() or 1,
            preload=preload,
            rounds=rounds,
            progress=progress,
        )
        commits = measure_commit(progress=progress) if commit else None
        queries = measure_provenance(progress=progress) if provenance else None
    result: dict[str, object] = {
        key: round(value, 3) if isinstance(value, float) else value
        for key, value in asdict(figures).items()
    }
    result["ingest_vs_raw"] = round(figures.ingest_vs_raw, 3)
    result["cores"] = os.cpu_count()
    if commits is not None:
        result["lifecycle_ops_per_s"] = round(commits.lifecycle_ops_per_s, 1)
        result["gas_per_anchored_event"] = round(commits.gas_per_anchored_event, 1)
    if queries is not None:
        for key, value in asdict(queries).items():
            result[key] = round(value, 3) if isinstance(value, float) else value
    if as_json:
        typer.echo(json.dumps(result))
        return
    figures_table = table("tracenode bench", "measure", "value", "target (docs/design.md §9)")
    figures_table.columns[1].justify = "right"
    figures_table.add_row(
        "ingest, events/s (bulk, verified, durable)",
        f"{figures.ingest_events_per_s:,.0f}",
        "≥ 10,000 on 2 cores",
    )
    figures_table.add_row(
        "raw secp256k1 recovery, /s (1 core)", f"{figures.raw_recover_per_s:,.0f}", ""
    )
    figures_table.add_row("ingest ÷ raw", f"{figures.ingest_vs_raw:.2f}", "≥ 0.5")
    figures_table.add_row("batch + events lookup, p50 ms", f"{figures.lookup_ms_p50:.2f}", "flat")
    figures_table.add_row("peak RSS, MB", f"{figures.peak_rss_mb:,.0f}", "flat")
    if figures.full_vs_empty is not None:
        full = f"after {preload:,} events"
        figures_table.add_row(
            f"ingest {full} / beside it, small store, events/s",
            f"{figures.ingest_events_per_s_full:,.0f} / {figures.ingest_events_per_s_small:,.0f}",
            "",
        )
        figures_table.add_row(
            f"full ÷ small (median of {figures.rounds} side-by-side rounds)",
            f"{figures.full_vs_empty:.2f}",
            "≥ 0.8",
        )
        figures_table.add_row(f"lookup {full}, p50 ms", f"{figures.lookup_ms_p50_full:.2f}", "flat")
        figures_table.add_row(f"peak RSS {full}, MB", f"{figures.peak_rss_mb_full:,.0f}", "")
        figures_table.add_row(
            "RSS after a tenth of the preload / all of it, MB",
            f"{figures.rss_mb_preload_tenth:,.0f} / {figures.rss_mb_preload_end:,.0f}",
            "flat",
        )
    if commits is not None:
        figures_table.add_row(
            "lifecycle ops committed, /s (embedded chain)",
            f"{commits.lifecycle_ops_per_s:,.0f}",
            "≥ 200",
        )
        figures_table.add_row(
            "gas per anchored event (1,000-event window)",
            f"{commits.gas_per_anchored_event:,.1f}",
            "≤ 100",
        )
    if queries is not None:
        figures_table.add_row(
            "accepted → anchored with proof, p50 s", f"{queries.accept_to_proof_s_p50:.2f}", "≤ 2"
        )
        figures_table.add_row(
            f"provenance ({queries.provenance_levels} levels, {queries.provenance_events} "
            "events, verified), p50 ms",
            f"{queries.provenance_ms_p50:.1f}",
            "≤ 50",
        )
        figures_table.add_row(
            "  the same just after a new block / first query, p50 ms",
            f"{queries.provenance_new_block_ms_p50:.0f} / {queries.provenance_cold_ms_p50:.0f}",
            "",
        )
        figures_table.add_row(
            f"downstream trace ({queries.trace_batches:,} batches), p50 ms",
            f"{queries.downstream_trace_ms_p50:.1f}",
            "≤ 100",
        )
    figures_table.add_row(
        "events timed / bulk / workers", f"{events:,} / {bulk} / {figures.workers}", ""
    )
    show(figures_table)
