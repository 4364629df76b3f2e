"""One progress bar for the library and the command line.

Private. A single line on a terminal's stderr, redrawn in place with ``\\r``;
nothing at all when the stream is not a terminal (a log file, a pipe, a test),
so progress never ends up in captured output. It can be cleared at any moment,
so that text written to the same terminal (the rows of ``artmedium predict``)
never starts in the middle of the bar.

Ours rather than :func:`click.progressbar`: the library (``fetch_tate``) uses it
without importing the command-line toolkit, it is safe to update from several
threads, and it knows how to get out of the way of other output (``clear``),
which click's bar, drawn for a terminal it owns alone, does not.
"""

import os
import shutil
import sys
import threading
import time

__all__ = ["Progress"]


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _columns(stream):
    """The width of the terminal behind ``stream`` (80 when it cannot tell)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return shutil.get_terminal_size().columns


def _clock(seconds):
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
    )


class Progress:
    """A one-line progress bar on a terminal, silent anywhere else.

    ``label [#########.........] 120/400  3 failed  41.2/s  0:06 left``, cut to
    the terminal's width so that ``\\r`` always returns to its start.

    Parameters
    ----------
    total : int
        How many items the work has.
    label : str
        What is being done ("predicting").
    enabled : bool, default=True
        False shows nothing (``--quiet``, ``verbose=0``).
    stream : text file, optional
        Where to draw; default: :data:`sys.stderr` at construction. Nothing is
        drawn unless it is a terminal.
    leave : bool, default=False
        On :meth:`close`, leave the final bar on its own line (a record of the
        work) instead of clearing it.
    min_interval : float, default=0.1
        Redraw at most this often, in seconds (and always at the end).

    Attributes
    ----------
    done, failed : int
        Items counted so far, and how many of them failed.
    enabled : bool
        Whether anything is drawn.

    Examples
    --------
    >>> import io
    >>> bar = Progress(3, label="reading", stream=io.StringIO())
    >>> bar.enabled  # a StringIO is not a terminal
    False
    >>> for _ in range(3):
    ...     bar.update()
    >>> bar.close()
    >>> bar.done, bar.stream.getvalue()
    (3, '')
    """

    def __init__(
        self, total, *, label, enabled=True, stream=None, leave=False, min_interval=0.1
    ):
        self.total = total
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.enabled = bool(enabled) and total > 0 and _is_terminal(self.stream)
        self.leave = leave
        self.min_interval = min_interval
        self.done = self.failed = 0
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._drawn = 0  # characters of the bar now on the line
        self._last_draw = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def line(self, width):
        """The bar as text, at most ``width - 1`` characters."""
        elapsed = time.monotonic() - self._start
        parts = [f"{self.done}/{self.total}"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.done and elapsed >= 1:
            rate = self.done / elapsed
            parts.append(f"{rate:.1f}/s")
            if self.done < self.total:
                parts.append(f"{_clock((self.total - self.done) / rate)} left")
        counts = "  ".join(parts)
        room = width - 1 - len(self.label) - len(counts) - 4
        if room >= 10:
            size = min(30, room)
            filled = size * self.done // self.total
            bar = f"[{'#' * filled}{'.' * (size - filled)}]"
            text = f"{self.label} {bar} {counts}"
        else:
            text = f"{self.label} {counts}"
        return text[: max(width - 1, 0)]

    def _draw(self):
        text = self.line(_columns(self.stream))
        # Spaces over what is left of a longer previous line.
        self.stream.write("\r" + text + " " * max(self._drawn - len(text), 0))
        self.stream.flush()
        self._drawn = len(text)
        self._last_draw = time.monotonic()

    def update(self, n=1, *, failed=0):
        """Count ``n`` more items done, ``failed`` of them failed; redraw.

        ``update(0)`` draws the bar at once (before the first item is done).
        """
        with self._lock:
            self.done += n
            self.failed += failed
            if not self.enabled:
                return
            now = time.monotonic()
            due = (
                self._last_draw is None
                or now - self._last_draw >= self.min_interval
                or self.done >= self.total
            )
            if due:
                self._draw()

    def clear(self):
        """Erase the bar, leaving the cursor at the start of an empty line.

        The next :meth:`update` draws it again. Call it before writing anything
        else to the same terminal.
        """
        with self._lock:
            if self.enabled and self._drawn:
                self.stream.write("\r" + " " * self._drawn + "\r")
                self.stream.flush()
                self._drawn = 0
                self._last_draw = None  # the next update shows it again at once

    def close(self):
        """End the bar: cleared, or kept on its own line with ``leave``."""
        if self.enabled and self.leave:
            with self._lock:
                self._draw()
                self.stream.write("\n")
                self.stream.flush()
                self._drawn = 0
        else:
            self.clear()
        self.enabled = False
