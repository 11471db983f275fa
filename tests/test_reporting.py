"""Progress and log lines: a log file gets whole plain lines, a few per interval (never carriage returns or
terminal escapes); a terminal gets one line redrawn in place; the package's log lines reach stderr once."""

import io
import logging
import re

import pytest

from tf_transformer import reporting
from tf_transformer.reporting import ProgressBar, configure_logging


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def clock(monkeypatch):
    """A fake perf_counter the test advances by hand."""
    now = [100.0]
    monkeypatch.setattr(reporting.time, "perf_counter", lambda: now[0])
    return now


def test_off_a_terminal_the_bar_writes_a_plain_line_per_interval_not_per_update(clock):
    stream = io.StringIO()
    bar = ProgressBar(10_000, "translated", "sentences", stream, interval=30.0)
    for _ in range(10_000):  # 10,000 updates over 100 fake seconds
        clock[0] += 0.01
        bar.advance(1, {"loss": 1.5})
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert 3 <= len(lines) <= 100 // 30 + 2, lines  # the first, one per 30 s, the last
    assert lines[0].startswith("translated 0/10000 ") and lines[-1].startswith("translated 10000/10000 ")
    assert "100%" in lines[-1] and "100.0 sentences/s" in lines[-1] and "loss: 1.5" in lines[-1]
    assert text.endswith("\n") and text.count("translated 10000/10000") == 1


def test_on_a_terminal_the_bar_redraws_one_line_and_ends_it(clock):
    stream = _Terminal()
    bar = ProgressBar(4, "epoch 1/2", "steps", stream)
    for _ in range(4):
        clock[0] += 2.0
        bar.advance(1)
    bar.close()
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") >= 5  # the first draw, every update (2 s apart), and the close
    assert re.search(r"epoch 1/2 4/4 \[#+\] 100% 0:08<0:00 2\.00 s/step", text), text


def test_a_resumed_count_starts_the_bar_where_it_was_and_rates_only_new_work(clock):
    stream = io.StringIO()
    bar = ProgressBar(100, "epoch 3/5", "steps", stream, start=60)
    clock[0] += 10.0
    bar.update(80)
    bar.close()
    assert stream.getvalue().splitlines()[-1].startswith("epoch 3/5 80/100 [###################.....]  80% 0:10<0:10 "
                                                         "2.0 steps/s")


def test_package_log_lines_reach_stderr_once_however_often_logging_is_configured(capsys):
    configure_logging()
    configure_logging()
    logging.getLogger("tf_transformer.trainer").info("resuming at epoch 2, step 7")
    logging.getLogger("tf_transformer.distribute").warning("mixed precision on a CPU")
    logging.getLogger("tf_transformer.trainer").debug("not shown without debug")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "resuming at epoch 2, step 7\nwarning: mixed precision on a CPU\n"
