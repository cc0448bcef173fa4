"""Fixtures and checks shared by every test file.

Three checks keep the suite from passing by not testing:
- under ``CI`` (``.ci/run`` exports ``CI=1``) a browser test fails, not skips, when chromium is missing;
- under ``CI`` any other skip fails too, unless its reason names the shared data (``../shared/data/`` is
  optional by design: tests that read it skip cleanly without it);
- a hypothesis test fails when it ran fewer examples than its settings planned (``max_examples``), so a
  strategy that filters everything away or a profile that shrinks the run cannot pass quietly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis.errors import UnsatisfiedAssumption

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "min_examples(n): the fewest hypothesis examples this test must run (default: max_examples)"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if IN_CI and item.get_closest_marker("browser") and not CHROMIUM.exists():
        pytest.fail(
            f"CI is set and {CHROMIUM} is missing: the browser tests must run in CI "
            "(./studio test installs Debian's chromium as root)",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if "shared" not in reason.lower():
            report.outcome = "failed"
            report.longrepr = f"skipped under CI ({reason}): in CI only tests that need ../shared/data may skip"
    return report  # type: ignore[return-value]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Counts the examples a hypothesis test actually ran (assumptions rejected do not count)."""
    test = getattr(item, "obj", None)
    handle = getattr(test, "hypothesis", None)
    if handle is None:
        return (yield)
    inner: Callable[..., Any] = handle.inner_test
    ran = 0

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal ran
        try:
            result = inner(*args, **kwargs)
        except UnsatisfiedAssumption:
            raise
        except BaseException:
            ran += 1
            raise
        ran += 1
        return result

    handle.inner_test = counted
    try:
        outcome = yield
    finally:
        handle.inner_test = inner
    marker = item.get_closest_marker("min_examples")
    planned = test._hypothesis_internal_use_settings.max_examples  # type: ignore[union-attr]
    needed = marker.args[0] if marker else planned
    if ran < needed:
        pytest.fail(
            f"hypothesis ran {ran} examples, fewer than the {needed} planned (max_examples={planned}): "
            "a strategy filters too much, or a settings profile cut the run",
            pytrace=False,
        )
    return outcome


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """On a shared 2-core box, one intra-op thread trains tiny nets 3–5× faster than two (measured)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
