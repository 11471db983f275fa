"""`tf-transformer translate`: every input mode gives the same lines, exports agree with their run, and every
mistake a user can make is a one-line error naming the place and the fix."""

import io
import sys

import pytest

from tf_transformer.cli import main

WORDS = ["abc", "jihgf", "a", "bbbbdddd", "hij", "cafe"]


def cli(capsys, *argv):
    """(exit code, stdout, stderr) of an in-process `tf-transformer ...`."""
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _pairs(out):
    """'translation<TAB>score' lines -> [(translation, score)]."""
    return [(line.rsplit("\t", 1)[0], float(line.rsplit("\t", 1)[1])) for line in out.splitlines()]


@pytest.fixture(scope="module")
def run_dir_outputs(trained_run):
    """The run directory's (translation, score) for WORDS: greedy and the recipe's default (beam 3)."""
    outputs = {}
    for name, extra in (("greedy", ["--beam-size", "1"]), ("default", [])):
        buffer, saved = io.StringIO(), sys.stdout
        sys.stdout = buffer
        try:
            assert main(["translate", "--run-dir", trained_run["run_dir"], "--scores", *extra, *WORDS]) == 0
        finally:
            sys.stdout = saved
        outputs[name] = _pairs(buffer.getvalue())
    return outputs


def test_one_output_line_per_argument_in_input_order(run_dir_outputs):
    for name, pairs in run_dir_outputs.items():
        assert len(pairs) == len(WORDS), name
    # the words are sorted by length into batches; a result must still land on its own input's line
    assert run_dir_outputs["greedy"][WORDS.index("jihgf")][0] != run_dir_outputs["greedy"][WORDS.index("a")][0]


def test_a_file_gives_the_same_lines_as_arguments_and_keeps_blank_lines(trained_run, run_dir_outputs, tmp_path,
                                                                        capsys):
    lines = ["abc", "", "jihgf", "   ", "cafe", "a"]
    source = tmp_path / "in.txt"
    source.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\n")  # BOM and CRLF ends
    target = tmp_path / "out.txt"
    code, out, err = cli(capsys, "translate", "--run-dir", trained_run["run_dir"], "--beam-size", "1",
                         "--input", source, "--output", target, "--batch-size", "2")
    assert code == 0 and out == ""
    assert "translated 4/4" in err  # the progress bar counts the non-blank lines, on stderr
    written = target.read_text(encoding="utf-8").split("\n")
    assert written[-1] == "" and len(written) - 1 == len(lines)
    greedy = dict(zip(WORDS, (text for text, _ in run_dir_outputs["greedy"])))
    for line, output in zip(lines, written):
        assert output == (greedy[line] if line.strip() else "")


def test_stdin_lines_translate_like_arguments(trained_run, run_dir_outputs, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\n".join(WORDS).encode("utf-8"))))
    code, out, _ = cli(capsys, "translate", "--run-dir", trained_run["run_dir"], "--beam-size", "1", "--scores")
    assert code == 0
    for (text, score), (expected, expected_score) in zip(_pairs(out), run_dir_outputs["greedy"], strict=True):
        assert text == expected and score == pytest.approx(expected_score, abs=1e-3)


def test_n_best_lists_are_sorted_and_led_by_the_best_translation(trained_run, run_dir_outputs, capsys):
    code, out, _ = cli(capsys, "translate", "--run-dir", trained_run["run_dir"], "--n-best", "3", *WORDS)
    assert code == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert len(rows) == 3 * len(WORDS)
    for number in range(1, len(WORDS) + 1):
        hypotheses = [(text, float(score)) for line, text, score in rows if int(line) == number]
        scores = [score for _, score in hypotheses]
        assert len(hypotheses) == 3 and scores == sorted(scores, reverse=True)
        best, best_score = run_dir_outputs["default"][number - 1]  # the recipe's beam size is 3
        assert hypotheses[0][0] == best and hypotheses[0][1] == pytest.approx(best_score, abs=1e-3)


def test_sampling_with_a_seed_repeats_and_keeps_one_line_per_input(trained_run, capsys):
    argv = ["translate", "--run-dir", trained_run["run_dir"], "--sample", "--temperature", "1.5", "--top-k", "5",
            "--seed", "7", *WORDS]
    first, second = cli(capsys, *argv), cli(capsys, *argv)
    assert first[0] == 0 and first[1] == second[1]
    assert len(first[1].splitlines()) == len(WORDS)


def test_an_export_translates_like_its_run_directory(trained_run, run_dir_outputs, capsys):
    for name, extra in (("greedy", ["--beam-size", "1"]), ("default", [])):
        code, out, _ = cli(capsys, "translate", "--model", trained_run["model_dir"], "--scores", *extra, *WORDS)
        assert code == 0
        for (text, score), (expected, expected_score) in zip(_pairs(out), run_dir_outputs[name], strict=True):
            assert text == expected and score == pytest.approx(expected_score, abs=1e-3), name


def test_xla_and_graph_decoding_write_the_same_lines(trained_run, capsys):
    outputs = {}
    for flag in ("--xla", "--no-xla"):
        code, out, _ = cli(capsys, "translate", "--run-dir", trained_run["run_dir"], "--scores", flag, *WORDS)
        assert code == 0
        outputs[flag] = _pairs(out)
    for (text, score), (expected, expected_score) in zip(outputs["--xla"], outputs["--no-xla"], strict=True):
        assert text == expected and score == pytest.approx(expected_score, abs=1e-3)


def _one_line_error(capsys, argv, *expected):
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for text in expected:
        assert text in err, err


def test_input_mistakes_are_one_line_errors_naming_the_file(trained_run, tmp_path, capsys):
    run_dir = trained_run["run_dir"]
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("abc\ncafé\n".encode("latin-1"))
    _one_line_error(capsys, ["translate", "--run-dir", run_dir, "--input", empty], str(empty), "empty")
    _one_line_error(capsys, ["translate", "--run-dir", run_dir, "--input", latin1], f"{latin1}:2:", "iconv")
    _one_line_error(capsys, ["translate", "--run-dir", run_dir, "--input", tmp_path / "missing.txt"],
                    "missing.txt", "--input")
    _one_line_error(capsys, ["translate", "--run-dir", run_dir, "--input", latin1, "abc"], "--input")


def test_model_path_mistakes_are_one_line_errors(trained_run, tmp_path, capsys):
    _one_line_error(capsys, ["translate", "--run-dir", tmp_path / "nowhere", "abc"], "nowhere", "--run-dir")
    _one_line_error(capsys, ["translate", "--model", tmp_path / "nowhere", "abc"], "nowhere", "export")
    _one_line_error(capsys, ["translate", "--run-dir", tmp_path, "abc"], "recipe.yaml")
    _one_line_error(capsys, ["translate", "--run-dir", trained_run["model_dir"], "abc"], "--model")


def test_options_an_export_or_method_cannot_honour_are_one_line_errors(trained_run, capsys):
    run_dir, model_dir = trained_run["run_dir"], trained_run["model_dir"]
    for option in (["--n-best", "2"], ["--sample"], ["--beam-size", "2"], ["--top-p", "0.9"], ["--xla"]):
        _one_line_error(capsys, ["translate", "--model", model_dir, *option, "abc"], option[0], "--run-dir")
    _one_line_error(capsys, ["translate", "--run-dir", run_dir, "--temperature", "0.5", "abc"], "--sample")
    _one_line_error(capsys, ["translate", "--run-dir", run_dir, "--sample", "--n-best", "2", "abc"], "--sample")
    _one_line_error(capsys, ["translate", "--run-dir", run_dir, "--beam-size", "2", "--n-best", "3", "abc"],
                    "--beam-size 3")


def test_out_of_range_beam_and_n_best_are_named_before_what_an_export_decodes_with(trained_run, capsys):
    for model in (["--model", trained_run["model_dir"]], ["--run-dir", trained_run["run_dir"]]):
        _one_line_error(capsys, ["translate", *model, "--beam-size", "0", "abc"], "--beam-size must be >= 1")
        _one_line_error(capsys, ["translate", *model, "--n-best", "0", "abc"], "--n-best must be >= 1")


def test_an_unknown_option_exits_with_status_2(trained_run, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", "--run-dir", trained_run["run_dir"], "--beam", "abc"])
    assert exit_info.value.code == 2
    assert "--beam" in capsys.readouterr().err


def test_a_run_ensembled_with_its_copy_translates_as_the_run(trained_run, run_dir_outputs, tmp_path, capsys):
    """A repeated --run-dir decodes the runs as one ensemble: the mean of two equal distributions is the same one."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained_run["run_dir"], copy)
    code, out, _ = cli(capsys, "translate", "--run-dir", trained_run["run_dir"], "--run-dir", copy, "--scores",
                       *WORDS)
    assert code == 0
    pairs = _pairs(out)
    assert [text for text, _ in pairs] == [text for text, _ in run_dir_outputs["default"]]
    assert [score for _, score in pairs] == pytest.approx([score for _, score in run_dir_outputs["default"]],
                                                          abs=1e-3)


def test_commands_that_read_one_run_refuse_a_repeated_run_dir(trained_run, capsys):
    run_dir = trained_run["run_dir"]
    for command in (["attention", "abc"], ["tflite"], ["average"]):
        with pytest.raises(SystemExit) as exit_info:
            main([command[0], "--run-dir", run_dir, "--run-dir", run_dir, *command[1:]])
        assert exit_info.value.code == 2
        assert "--run-dir given twice" in capsys.readouterr().err
