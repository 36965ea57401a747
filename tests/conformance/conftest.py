"""Conformance suite: the owned pool and httpcore against servers nobody here wrote.

Every test module here sets ``pytestmark = pytest.mark.conformance``: deselected by default,
``pytest -m conformance`` runs them (CI does, in its own step). Each case runs on both pools;
the owned pool must be correct on every case, and where httpcore is not, the summary says so.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.harness import verdicts
from tests.conformance.servers import Servers


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    running = Servers()
    try:
        yield running
    finally:
        running.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    behind = {name: v for name, v in verdicts.items() if v["httpcore"] not in ("ok", "not run")}
    if not verdicts:
        return
    terminalreporter.section("conformance: owned pool vs httpcore")
    owned_failed = sum(v["owned"] != "ok" for v in verdicts.values())
    terminalreporter.write_line(
        f"{len(verdicts)} case runs; owned pool failed {owned_failed}, httpcore {len(behind)}"
    )
    for name, verdict in sorted(behind.items()):
        terminalreporter.write_line(f"  httpcore {name}: {verdict['httpcore']}")
