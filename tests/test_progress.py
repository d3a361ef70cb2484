"""The progress helper: a few whole lines in a log, tqdm's bar on a terminal, off on request."""

from __future__ import annotations

import io

import pytest

from synaprune.progress import LOG_UPDATES, progress_bar, progress_mode


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNAPRUNE_PROGRESS", raising=False)
    monkeypatch.delenv("CI", raising=False)


@pytest.mark.parametrize("total", [7, 5000])
def test_log_gets_a_few_whole_lines(total: int) -> None:
    out = io.StringIO()
    bar = progress_bar(range(total), desc="learn", unit="sample", file=out)
    for i in bar:
        if i % 200 == 0:
            bar.set_postfix(live="50%", refresh=False)
    text = out.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and text.endswith("\n")
    # start, every quarter, end: never one line per step
    assert 2 <= len(lines) <= LOG_UPDATES + 2, lines
    assert lines[0].startswith("learn:   0%") and f"{total}/{total}" in lines[-1]


@pytest.mark.parametrize("n", [3, 300])
def test_unknown_length_in_a_log(n: int) -> None:
    out = io.StringIO()
    for _ in progress_bar(iter(range(n)), desc="events", file=out):
        pass
    lines = out.getvalue().splitlines()
    assert 1 <= len(lines) <= 2 and f"{n}it" in lines[-1]


def test_terminal_gets_tqdm_redraws() -> None:
    out = FakeTty()
    for _ in progress_bar(range(50), desc="t", file=out):
        pass
    assert "\r" in out.getvalue()  # redrawn in place on one line


def test_ci_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert progress_mode(FakeTty()) == "bar"
    monkeypatch.setenv("CI", "true")
    assert progress_mode(FakeTty()) == "lines"
    monkeypatch.setenv("SYNAPRUNE_PROGRESS", "off")
    out = io.StringIO()
    for _ in progress_bar(range(10), file=out):
        pass
    assert out.getvalue() == ""
    monkeypatch.setenv("SYNAPRUNE_PROGRESS", "sometimes")
    with pytest.raises(ValueError, match="SYNAPRUNE_PROGRESS"):
        progress_mode(io.StringIO())


def test_disable_prints_nothing() -> None:
    out = FakeTty()
    for _ in progress_bar(range(10), file=out, disable=True):
        pass
    assert out.getvalue() == ""
