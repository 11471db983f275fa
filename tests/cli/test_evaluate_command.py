"""`tf-transformer evaluate`: its scores are the metric of what `translate` outputs, greedy and beam, and --output
lists exactly those outputs."""

import csv
import json

import pytest

from tf_transformer.cli import main


def test_greedy_row_scores_what_translate_outputs(trained_run, tmp_path, capsys):
    from tf_transformer.data import load_corpus
    from tf_transformer.evaluation import scores_for

    run_dir, summary, outputs = trained_run["run_dir"], tmp_path / "scores.json", tmp_path / "outputs.tsv"
    assert main(["evaluate", "--run-dir", run_dir, "--split", "dev", "--limit", "8", "--beam-size", "2",
                 "--json", str(summary), "--output", str(outputs), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "greedy" in table and "beam 2" in table and "bleu" in table
    result = json.loads(summary.read_text(encoding="utf-8"))
    assert result["task"] == "translation" and result["sources"] == 8
    assert [row["decoding"] for row in result["results"]] == ["greedy", "beam 2"]

    grouped = load_corpus(trained_run["recipe"].data).grouped("dev")[:8]
    sources = tmp_path / "sources.txt"
    sources.write_text("".join(source + "\n" for source, _ in grouped), encoding="utf-8")
    assert main(["translate", "--run-dir", run_dir, "--beam-size", "1", "--input", str(sources), "--quiet"]) == 0
    hypotheses = capsys.readouterr().out.splitlines()
    expected = scores_for("translation", hypotheses, [references for _, references in grouped])
    for row in result["results"]:
        assert 0.0 <= row["bleu"] <= 100.0 and 0.0 <= row["chrf"] <= 100.0
    assert result["results"][0]["bleu"] == pytest.approx(expected["bleu"])
    assert result["results"][0]["chrf"] == pytest.approx(expected["chrf"])

    with open(outputs, encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    assert [row["source"] for row in rows] == [source for source, _ in grouped]
    assert [row["references"].split(" | ") for row in rows] == [references for _, references in grouped]
    assert [row["greedy"] for row in rows] == hypotheses
    for row, (_, references) in zip(rows, grouped, strict=True):
        for label in ("greedy", "beam 2"):
            assert row[f"{label} exact"] == str(int(row[label] in references))


def test_data_task_g2p_scores_a_tsv_run_by_word_and_phoneme_error(trained_run, tmp_path, capsys):
    """A pronunciation lexicon in a tsv file (`data.task: g2p`) is scored as the CMU dictionary is: WER and PER of
    the greedy outputs, a source right if its output matches any of its references."""
    import shutil

    from tf_transformer.config import load_recipe, save_recipe
    from tf_transformer.data import load_corpus
    from tf_transformer.evaluation import g2p_scores
    from tf_transformer.run_dir import RunPaths

    run_dir = tmp_path / "lexicon_run"
    shutil.copytree(trained_run["run_dir"], run_dir)
    recipe_path = RunPaths(str(run_dir)).recipe
    save_recipe(load_recipe(recipe_path, ["data.task=g2p"]), recipe_path)
    summary, outputs = tmp_path / "scores.json", tmp_path / "outputs.tsv"
    assert main(["evaluate", "--run-dir", str(run_dir), "--split", "dev", "--limit", "8", "--beam-size", "1",
                 "--json", str(summary), "--output", str(outputs), "--quiet"]) == 0
    assert "wer" in capsys.readouterr().out
    result = json.loads(summary.read_text(encoding="utf-8"))
    with open(outputs, encoding="utf-8", newline="") as file:
        greedy = [row["greedy"] for row in csv.DictReader(file, delimiter="\t")]
    grouped = load_corpus(trained_run["recipe"].data).grouped("dev")[:8]
    expected = g2p_scores(greedy, [references for _, references in grouped])
    assert result["task"] == "g2p" and "bleu" not in result["results"][0]
    assert (result["results"][0]["wer"], result["results"][0]["per"]) == pytest.approx(
        (expected["wer"], expected["per"]))


def test_an_export_scores_like_its_run_directory(trained_run, tmp_path, capsys):
    results = {}
    for option, path in (("--run-dir", trained_run["run_dir"]), ("--model", trained_run["model_dir"])):
        summary = tmp_path / f"{option[2:]}.json"
        assert main(["evaluate", option, path, "--split", "dev", "--limit", "8", "--json", str(summary),
                     "--quiet"]) == 0
        results[option] = json.loads(summary.read_text(encoding="utf-8"))["results"]
    beam = trained_run["recipe"].decoding.beam_size
    assert [row["decoding"] for row in results["--model"]] == ["greedy", f"beam {beam}"]
    for exported, in_process in zip(results["--model"], results["--run-dir"], strict=True):
        assert exported["decoding"] == in_process["decoding"]
        assert exported["bleu"] == pytest.approx(in_process["bleu"]) and exported["chrf"] == pytest.approx(
            in_process["chrf"])
    capsys.readouterr()


def test_a_run_ensembled_with_its_copy_scores_as_the_run(trained_run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained_run["run_dir"], copy)
    results = {}
    for name, run_dirs in (("alone", [trained_run["run_dir"]]), ("ensemble", [trained_run["run_dir"], copy])):
        summary = tmp_path / f"{name}.json"
        arguments = [argument for run_dir in run_dirs for argument in ("--run-dir", str(run_dir))]
        assert main(["evaluate", *arguments, "--split", "dev", "--limit", "8", "--json", str(summary),
                     "--quiet"]) == 0
        results[name] = json.loads(summary.read_text(encoding="utf-8"))
    assert f"{trained_run['run_dir']} + {copy}  dev" in capsys.readouterr().out
    assert results["ensemble"]["ensemble"] == [str(copy)] and results["alone"]["ensemble"] == []
    for together, alone in zip(results["ensemble"]["results"], results["alone"]["results"], strict=True):
        assert together["bleu"] == pytest.approx(alone["bleu"]) and together["chrf"] == pytest.approx(alone["chrf"])


def test_export_mistakes_are_one_line_errors(trained_run, tmp_path, capsys):
    import shutil

    from tf_transformer.export.saved_model import RECIPE_FILE

    for extra, expected in ((["--beam-size", "7"], "--beam-size 7"), (["--xla"], "--xla")):
        assert main(["evaluate", "--model", trained_run["model_dir"], *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and expected in err and "--run-dir" in err
    assert main(["evaluate", "--model", trained_run["model_dir"], "--beam-size", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--beam-size must be >= 1" in err, err
    old_export = tmp_path / "old" / "1"
    shutil.copytree(trained_run["export"], old_export)
    (old_export / RECIPE_FILE).unlink()
    assert main(["evaluate", "--model", str(old_export.parent)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "recipe.yaml" in err and "export" in err


@pytest.mark.parametrize("extra, expected", [
    (["--limit", "0"], "--limit"),
    (["--json", "/nonexistent/dir/scores.json"], "/nonexistent/dir/scores.json"),
    (["--output", "/nonexistent/dir/outputs.tsv"], "pick another --output path"),
])
def test_mistakes_are_one_line_errors(trained_run, capsys, extra, expected):
    assert main(["evaluate", "--run-dir", trained_run["run_dir"], *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err


def test_a_missing_run_directory_is_a_one_line_error(tmp_path, capsys):
    assert main(["evaluate", "--run-dir", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "nowhere" in err
