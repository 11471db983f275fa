"""How the package reports to a person: the `logging` set-up the CLI applies once, and the one progress bar.

Library modules log through `logging.getLogger(__name__)` (children of "tf_transformer") and never print; the
`tf-transformer` command calls `configure_logging` once, so their INFO lines reach stderr as plain text. From
Python, call `configure_logging()` (or configure `logging` yourself) to see them.

    bar = ProgressBar(total=500, label="translated", unit="sentences")
    for batch in batches:
        bar.advance(len(batch))
    bar.close()

On a terminal the bar redraws one line in place; anywhere else (a log file, a pipe, CI) it writes a plain line at
most every `interval` seconds and one at the end, so a log of a long job holds a few lines per minute, not
thousands of carriage-return updates.
"""

import logging
import sys
import time

LOGGER_NAME = "tf_transformer"


class _Formatter(logging.Formatter):
    """INFO as the bare message; warnings and errors prefixed with their level ("warning: ..."); with `debug`,
    every line with its time and logger."""

    def __init__(self, debug):
        super().__init__("%(asctime)s %(name)s %(levelname)s: %(message)s" if debug else "%(message)s")
        self.debug = debug

    def format(self, record):
        line = super().format(record)
        if not self.debug and record.levelno >= logging.WARNING:
            line = f"{record.levelname.lower()}: {line}"
        return line


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record comes (a redirect or capture made after set-up)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ assigns it; the property always answers sys.stderr
        pass


def configure_logging(debug=False, stream=None):
    """Send the package's log records (INFO and up; DEBUG too with `debug`) to `stream` (default: stderr, as it
    is when each record is written).

    Idempotent: a second call replaces the handler, so no line is ever printed twice.
    """
    logger = logging.getLogger(LOGGER_NAME)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(_Formatter(debug))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    return logger


class ProgressBar:
    """Progress of a counted job: `translated 120/500 [######..................] 24% 0:05<0:16 23.9 sentences/s`.

    Args:
        total: units of work in all (steps, sentences).
        label: what is being done, first on the line ("translated", "epoch 3/20").
        unit: the unit's plural name, for the rate.
        stream: where to write (default stderr). A terminal redraws in place (at most `tty_interval` apart);
            anything else gets whole lines (at most `interval` seconds apart, plus the first and the last).
        start: units already done (a resumed epoch); the rate counts only the units done here.
        interval: seconds between lines off a terminal.

    `update(done, values)` sets the count and optional `values` {name: float} shown after the rate (loss,
    accuracy, tok/s); `advance(count, values)` adds to it; `close()` writes the last line.
    """

    WIDTH = 24  # characters of the bar itself
    tty_interval = 0.1

    def __init__(self, total, label, unit="items", stream=None, start=0, interval=30.0):
        self.total, self.label, self.unit = max(int(total), 0), label, unit
        self.stream = stream or sys.stderr
        self.done = self.start_count = start
        self.values = {}
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = self.tty_interval if self.terminal else interval
        self.started = time.perf_counter()
        self.last_draw, self.drawn = None, None  # when, and at which count, the last line was written
        self.closed = False
        self._draw(force=True)

    def update(self, done, values=None):
        self.done = done
        if values:
            self.values.update(values)
        self._draw(force=False)

    def advance(self, count, values=None):
        self.update(self.done + count, values)

    def close(self):
        """Write the final state (once); on a terminal, end the redrawn line."""
        if self.closed:
            return
        if self.terminal or self.drawn != self.done:
            self._draw(force=True)
        if self.terminal:
            self.stream.write("\n")
            self.stream.flush()
        self.closed = True

    def line(self):
        """The current state as one line (no control characters)."""
        elapsed = time.perf_counter() - self.started
        fraction = min(self.done / self.total, 1.0) if self.total else 1.0
        filled = int(self.WIDTH * fraction)
        rate = (self.done - self.start_count) / elapsed if elapsed > 0 else 0.0
        remaining = (self.total - self.done) / rate if rate > 0 and self.done < self.total else 0.0
        singular = self.unit[:-1] if self.unit.endswith("s") else self.unit
        speed = f"{rate:.1f} {self.unit}/s" if rate >= 1 or rate == 0 else f"{1 / rate:.2f} s/{singular}"
        text = (f"{self.label} {self.done}/{self.total} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                f"{100 * fraction:3.0f}% {_clock(elapsed)}<{_clock(remaining)} {speed}")
        return text + "".join(f" - {name}: {value:.4g}" for name, value in self.values.items())

    def _draw(self, force):
        now = time.perf_counter()
        if not force and self.last_draw is not None and now - self.last_draw < self.interval:
            return
        self.last_draw, self.drawn = now, self.done
        if self.terminal:
            self.stream.write("\r" + self.line() + "\x1b[K")  # erase what a longer previous line left
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()


def _clock(seconds):
    """0:05, 12:30, 1:02:03."""
    seconds = int(seconds)
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours}:{minutes:02d}:{seconds % 60:02d}" if hours else f"{minutes}:{seconds % 60:02d}"
