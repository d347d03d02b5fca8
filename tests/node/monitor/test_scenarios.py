"""The monitor's scenario library (tests/scenarios/*.toml): every labelled situation is
built on one real node (embedded chain, signed events, commits, hand edits of the store)
and judged by one monitor cycle; each must raise exactly the alerts it expects. Precision
and recall per rule: ``scripts/monitor_scenarios.py``."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from node.monitor.products import ProductTable
from node.testing.scenarios import (
    PRODUCTS_FILE,
    Outcome,
    ScenarioError,
    judge,
    load_library,
    run_library,
    scores,
)

LIBRARY = Path(__file__).parents[2] / "scenarios"
SCENARIOS = load_library(LIBRARY)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """The whole library, run once for the module."""
    table = ProductTable.load(LIBRARY / PRODUCTS_FILE)
    ran = run_library(SCENARIOS, table, workdir=tmp_path_factory.mktemp("scenarios"))
    return {o.scenario.name: o for o in ran}


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_the_scenario_raises_exactly_the_alerts_it_expects(
    outcomes: dict[str, Outcome], name: str
) -> None:
    outcome = outcomes[name]

    assert (outcome.missed, outcome.unexpected) == ((), ()), outcome.scenario.about


def test_the_library_is_labelled_and_meets_the_target(outcomes: dict[str, Outcome]) -> None:
    labels = Counter(s.label for s in SCENARIOS)
    overall = scores(list(outcomes.values()))["overall"]

    assert len(SCENARIOS) >= 30
    assert min(labels["normal"], labels["threat"], labels["near-miss"]) >= 5
    assert overall.precision >= 0.95
    assert overall.recall >= 0.95
    assert overall.true_positives >= 20


def test_an_expectation_without_a_severity_matches_any() -> None:
    missed, unexpected = judge(
        ["cold-chain", "mass-balance:high"], ["cold-chain:high", "mass-balance:medium"]
    )

    assert (missed, unexpected) == (["mass-balance:high"], ["mass-balance:medium"])


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[[scenario]]\nname = "x"\nlabel = "threat"\nabout = ""\nsteps = [{ fly = 1 }]', "one of"),
        (
            '[[scenario]]\nname = "x"\nlabel = "threat"\nabout = ""\n'
            'steps = [{ commit = true, by = "farm" }]',
            "by",
        ),
        (
            '[[scenario]]\nname = "x"\nlabel = "maybe"\nabout = ""\nsteps = [{ commit = true }]',
            "label",
        ),
        ('[[scenarios]]\nname = "x"', "[[scenario]] tables only"),
    ],
)
def test_a_scenario_file_with_a_mistake_is_refused_whole(
    tmp_path: Path, text: str, says: str
) -> None:
    (tmp_path / "bad.toml").write_text(text)

    with pytest.raises(ScenarioError, match=re.escape(says)):
        load_library(tmp_path)
