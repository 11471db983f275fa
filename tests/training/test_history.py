"""history.csv keeps every epoch's log entries under their own column, whatever epoch a column first appears in, and
an epoch logged twice (a resume) once."""

import csv

import pytest

from tf_transformer.callbacks import HistoryCSV


def _rows(path):
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_a_metric_logged_every_second_epoch_keeps_its_column(tmp_path):
    path = str(tmp_path / "history.csv")
    history = HistoryCSV(path)
    for epoch in range(4):  # evaluate_every_epochs=2: the dev metrics first appear at the second epoch
        logs = {"loss": 4.0 - epoch}
        if epoch % 2:
            logs.update(dev_wer=50.0 - epoch, dev_per=9.0)
        history.on_epoch_end(epoch, logs)
    rows = _rows(path)
    assert [row["epoch"] for row in rows] == ["0", "1", "2", "3"]
    assert [row["loss"] for row in rows] == ["4.0", "3.0", "2.0", "1.0"]
    assert [row["dev_wer"] for row in rows] == ["", "49.0", "", "47.0"]
    assert [row["dev_per"] for row in rows] == ["", "9.0", "", "9.0"]


def test_a_resumed_run_with_a_new_log_entry_keeps_the_old_rows_aligned(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,accuracy,dev_wer,loss\n0,0.5,60.0,2.5\n1,0.6,50.0,2.0\n", encoding="utf-8")  # older run
    HistoryCSV(str(path)).on_epoch_end(2, {"accuracy": 0.7, "dev_wer": 40.0, "learning_rate": 0.001, "loss": 1.5})
    rows = _rows(path)
    assert [(row["accuracy"], row["dev_wer"], row["loss"]) for row in rows] == [
        ("0.5", "60.0", "2.5"), ("0.6", "50.0", "2.0"), ("0.7", "40.0", "1.5")]
    assert [row["learning_rate"] for row in rows] == ["", "", "0.001"]


def test_an_epoch_logged_again_replaces_its_row(tmp_path):
    path = str(tmp_path / "history.csv")
    history = HistoryCSV(path)
    history.on_epoch_end(0, {"loss": 3.0})
    history.on_epoch_end(1, {"loss": 2.0})  # killed after this row, resumed from the backup of epoch 0's end
    history.on_epoch_end(1, {"loss": 1.9})
    history.on_epoch_end(2, {"loss": 1.5})
    assert [(row["epoch"], row["loss"]) for row in _rows(path)] == [("0", "3.0"), ("1", "1.9"), ("2", "1.5")]
    assert not (tmp_path / "history.csv.tmp").exists()


def test_an_unreadable_history_is_a_one_line_error_that_keeps_the_file(tmp_path):
    from tf_transformer.errors import DataError

    path = tmp_path / "history.csv"
    path.write_bytes(b"epoch,loss\n0,\xff\xfe\n")  # not UTF-8: edited by hand in another encoding
    with pytest.raises(DataError, match=r"history\.csv: not a history\.csv this run can extend .*move it away"):
        HistoryCSV(str(path)).on_epoch_end(1, {"loss": 1.0})
    assert path.read_bytes() == b"epoch,loss\n0,\xff\xfe\n"
