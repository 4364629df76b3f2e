"""The one progress bar of the library and the command line."""

import io
import threading

import pytest

from artmedium._progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_nothing_is_drawn_off_a_terminal_or_when_disabled():
    for stream, enabled in ((io.StringIO(), True), (FakeTerminal(), False)):
        bar = Progress(5, label="work", stream=stream, enabled=enabled)
        bar.update(0)
        bar.update(5, failed=1)
        bar.clear()
        bar.close()
        assert stream.getvalue() == ""
        assert (bar.done, bar.failed) == (5, 1)


def test_clear_erases_the_bar_and_the_next_update_draws_it_again():
    terminal = FakeTerminal()
    bar = Progress(10, label="predicting", stream=terminal, min_interval=3600)
    bar.update(0)
    drawn = terminal.getvalue()
    assert drawn.startswith("\rpredicting [") and drawn.endswith("0/10")
    bar.clear()
    cleared = terminal.getvalue()[len(drawn) :]
    assert cleared == "\r" + " " * (len(drawn) - 1) + "\r"
    # Throttled updates do not draw, but one after clear() does, at once.
    bar.update(2)
    assert terminal.getvalue().endswith("2/10")
    before = terminal.getvalue()
    bar.update(1)
    assert terminal.getvalue() == before
    bar.update(7)  # the end is always drawn
    assert terminal.getvalue().endswith("10/10")


@pytest.mark.parametrize("leave", [False, True])
def test_close_clears_or_leaves_the_final_bar(leave):
    terminal = FakeTerminal()
    with Progress(3, label="Tate thumbnails", stream=terminal, leave=leave) as bar:
        bar.update(3, failed=1)
    text = terminal.getvalue()
    if leave:
        assert text.endswith("\n") and "3/3  1 failed" in text.splitlines()[-1]
    else:
        assert text.endswith("\r") and "\n" not in text


def test_the_line_fits_the_terminal():
    bar = Progress(1000, label="predicting", stream=FakeTerminal())
    bar.done, bar.failed = 123, 4
    assert bar.line(80).startswith("predicting [###")
    assert "123/1000  4 failed" in bar.line(80)
    assert len(bar.line(80)) <= 79
    assert bar.line(30).startswith("predicting 123/1000")  # no room for a bar
    assert len(bar.line(12)) == 11


def test_updates_from_several_threads_are_all_counted():
    bar = Progress(8000, label="x", stream=FakeTerminal(), min_interval=0)
    threads = [
        threading.Thread(target=lambda: [bar.update() for _ in range(1000)])
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bar.done == 8000
