"""The training report reads every eval_log line, those of `--mode=eval` too (a file
name and a list of files next to the numbers), and a report failure never costs the
run its export."""
import json
import os
import shutil
from xml.etree import ElementTree

import pytest

from zoo.cli import train as train_cli  # noqa: F401  (defines the zoo-train flags)
from flagrun import train

NANO = ["--model=bert_nano", "--task=classification", "--seq_len=16", "--global_batch_size=8",
        "--steps_per_loop=10", "--vocab_size=200"]


def write_tsv(path):
    rows = ["sentence\tlabel"] + [f"the film was {word}\t{label}" for word, label in
                                  [("good", "pos"), ("bad", "neg"), ("great", "pos"),
                                   ("dull", "neg")] * 8]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_report_skips_non_numeric_fields(tmp_path):
    from zoo.evaluate.report import write_report
    (tmp_path / "train_log.jsonl").write_text("".join(
        json.dumps({"step": step, "loss": 1.0 / step, "learning_rate": 1e-3,
                    "tokens_per_sec": 10.0, "time": 0}) + "\n" for step in (10, 20)))
    (tmp_path / "eval_log.jsonl").write_text(
        json.dumps({"step": 10, "time": 0, "loss": 0.5, "accuracy": 0.7}) + "\n"
        + json.dumps({"step": 20, "time": 0, "checkpoint": "runs/a/ckpt-20",
                      "eval_data": ["dev.tsv"], "seconds": 0.1, "loss": 0.4,
                      "accuracy": 0.8, "note": None}) + "\n")
    page = open(write_report(str(tmp_path))).read()
    # The evaluation panel draws the numbers of both lines, and only the numbers.
    svg = "{http://www.w3.org/2000/svg}"
    evaluation = ElementTree.fromstring((tmp_path / "report.svg").read_text()).findall(
        svg + "svg")[3]
    lines = {line.find(svg + "title").text: len(line.get("points").split())
             for line in evaluation.findall(svg + "polyline")}
    assert lines == {"accuracy": 2, "loss": 2}
    assert "<figure><svg" in page
    assert "<td>accuracy</td><td>0.8</td>" in page
    assert "<td>checkpoint</td><td>runs/a/ckpt-20</td>" in page
    assert "dev.tsv" in page


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """(training data, a model_dir trained 10 steps without export, then `--mode=eval`);
    each test works on its own copy."""
    root = tmp_path_factory.mktemp("evaluated")
    data = write_tsv(root / "train.tsv")
    model_dir = str(root / "run")
    train(f"--model_dir={model_dir}", f"--train_data={data}", "--train_steps=10", "--noexport",
          *NANO)
    train("--mode=eval", f"--model_dir={model_dir}", f"--eval_data={data}")
    return data, model_dir


def copy_of(model_dir, tmp_path):
    return shutil.copytree(model_dir, str(tmp_path / "run"))


def test_training_reports_and_exports_after_an_eval_run(evaluated, tmp_path, capsys):
    data, model_dir = evaluated
    model_dir = copy_of(model_dir, tmp_path)
    from zoo.evaluate.report import write_report
    assert os.path.exists(write_report(model_dir))
    capsys.readouterr()
    train(f"--model_dir={model_dir}", f"--train_data={data}", "--train_steps=20", *NANO)
    out = capsys.readouterr().out
    assert "report: " in out and "warning" not in out
    assert os.listdir(os.path.join(model_dir, "export")) == ["1"]


def test_a_failing_report_does_not_stop_the_export(evaluated, tmp_path, capsys, monkeypatch):
    from zoo.evaluate import report

    def broken(model_dir):
        raise ValueError("cannot draw")
    monkeypatch.setattr(report, "write_report", broken)
    data, model_dir = evaluated
    model_dir = copy_of(model_dir, tmp_path)
    capsys.readouterr()
    train(f"--model_dir={model_dir}", f"--train_data={data}", "--train_steps=20", *NANO)
    out = capsys.readouterr().out
    assert "warning: no report (ValueError: cannot draw)" in out
    assert os.listdir(os.path.join(model_dir, "export")) == ["1"]
