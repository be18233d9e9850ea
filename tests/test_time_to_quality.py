"""benchmarks/time_to_quality.py: the curve arithmetic, the shared metric code, and
its --smoke mode end to end on a tiny text (the char pair; the others are skipped
because their data is missing in the test's data folder)."""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import ttq_data  # noqa: E402  (benchmarks/ is not a package)


def test_curves_targets_and_ratio():
    points = ttq_data.time_points(90, 3)
    assert points == [30, 60, 90]
    snaps = [{"time": 29.0, "path": "a"}, {"time": 58.0, "path": "b"}, {"time": 95.0, "path": "c"}]
    assert [s["path"] for s in ttq_data.pick_snapshots(snaps, points)] == ["a", "b", "b"]
    assert ttq_data.pick_snapshots(snaps, [10]) == [None]
    scored = [(29.0, 2.4), (58.0, 1.5)]
    assert ttq_data.curve_at(scored, [10] + points) == [None, 2.4, 1.5, 1.5]
    assert ttq_data.time_to_target(scored, 1.55, lower_is_better=True) == 58.0
    assert ttq_data.time_to_target(scored, 1.0, lower_is_better=True) is None
    assert ttq_data.time_to_target([(10.0, 20.0), (20.0, 31.0)], 30, False) == 20.0
    assert ttq_data.ratio_line("char", 30.0, 60.0, 1.55) == \
        "char: time to 1.55: zoo 30 s, peer 60 s, zoo/peer 0.50"
    assert ttq_data.ratio_line("mlm", None, 60.0, 0.3).endswith("zoo not reached, peer 60 s, "
                                                                "zoo/peer n/a")


def test_shared_metric_code(tmp_path):
    rows = ttq_data.windows(list(range(10)), 4)
    assert rows == [[0, 1, 2, 3], [4, 5, 6, 7]]
    uniform = ttq_data.next_token_nll(lambda x: np.full(x.shape + (16,), -np.log(16)), rows)
    assert uniform == pytest.approx(np.log(16))
    predictions = np.eye(5)[[[1, 2, 0], [3, 3, 3]]]
    labels, weights = np.array([[1, 2, 4], [3, 0, 0]]), np.array([[1, 1, 1], [1, 0, 0]])
    assert ttq_data.masked_accuracy(predictions, labels, weights) == pytest.approx(0.75)
    assert ttq_data.bleu(["a man rides a red bike ."], ["a man rides a red bike ."]) == \
        pytest.approx(100)
    text = "A\nB\n\n\nC\n"
    assert ttq_data.paragraphs(text) == ["A\nB", "C"]
    source = tmp_path / "in.txt"
    source.write_text("".join(f"line {i}\n" for i in range(200)))
    train, held = ttq_data.split_lines(str(source), str(tmp_path / "mlm"))
    assert open(held).read().splitlines() == ["line 99", "line 199"]
    train, val = ttq_data.split_text(str(source), str(tmp_path / "char"), 0.1)
    assert open(train).read() + open(val).read() == source.read_text()
    assert open(val).read().startswith("line ") and open(train).read().endswith("\n")


def test_smoke_prints_a_ratio_line_per_pair_and_a_plot(tmp_path):
    data = tmp_path / "data"
    (data / "tiny_shakespeare").mkdir(parents=True)
    speech = "First Citizen:\nBefore we proceed any further, hear me speak.\n\n" \
             "All:\nSpeak, speak.\n\n"
    (data / "tiny_shakespeare" / "input.txt").write_text(speech * 150)
    plot = tmp_path / "ttq.png"

    def smoke(*extra):
        return subprocess.run(
            [sys.executable, os.path.join(ROOT, "benchmarks", "time_to_quality.py"), "--smoke",
             "--budget_minutes=0.4", "--char_model=gpt_nano", f"--data_dir={data}",
             f"--workdir={tmp_path / 'work'}", f"--plot={plot}", *extra],
            capture_output=True, text=True, timeout=900, cwd=ROOT,
            env=dict(os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1"))
    done = smoke()
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    out = done.stdout
    assert "mlm: skipped, no " in out and "translation: skipped, no " in out
    assert "== char: val loss (lower is better), target 1.55, 24 s a side" in out
    assert "--model=gpt_nano --task=clm --tokenizer=char" in out
    assert any(line.startswith("char: time to 1.55: zoo ") and "zoo/peer" in line
               for line in out.splitlines())
    assert "load average" in out and plot.exists()

    # Another zoo recipe against the same peer run: its snapshots are scored
    # again, not retrained; an earlier zoo side in the way is refused.
    char = tmp_path / "work" / "char"
    done = smoke("--pairs=char", "--reuse_peer")
    assert done.returncode != 0
    assert f"--reuse_peer trains a new zoo side, but {char / 'zoo'} holds an earlier one" \
        in done.stderr
    (char / "zoo").rename(tmp_path / "earlier_zoo")
    peer_log = (char / "peer.log").read_text()
    done = smoke("--pairs=char", "--reuse_peer", "--zoo_flag=--model_overrides=dropout=0.05")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    # (--zoo_flag comes after the recipe's flags, so its value is the one the run took)
    assert '"dropout": 0.05' in (char / "zoo" / "config.json").read_text()
    assert f"char: the peer's snapshots of an earlier run, from {char / 'peer'}" in done.stdout
    assert (char / "peer.log").read_text() == peer_log  # (the peer did not run again)
    assert any(line.startswith("char: time to 1.55: zoo ") for line in done.stdout.splitlines())
