"""--strategy=multi_worker and tpu.

Two worker processes on 127.0.0.1 (a MultiWorkerMirroredStrategy must be made
before TensorFlow runs any op, so each is a fresh `python -m zoo.cli.train`)
each read only their own file of the two and train exactly like one device
reading both shards (--input_shards=2) at the same global batch and seed, and
only the chief writes (it trains the vocab, which the other copies from the
shared model_dir), but for each worker's input position. That `mirrored` does too is tests/test_distribution.py. Dropout
is off: with it on, replicas draw different masks.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from test_distribution import checkpoint_arrays, losses
from zoo.cli.common import FLAGS, UsageError
from zoo.data.builtin import write_corpus
from zoo.cli import train as train_cli
from zoo.train.input_position import saved_position
from zoo.train.job import default_options, train_from_flags

STEPS = 10
RESUMED = 14  # steps after a resume
NANO = ["--model=bert_nano", "--seq_len=32", "--global_batch_size=8", "--vocab_size=300",
        "--steps_per_loop=2", "--checkpoint_every=5", "--shuffle_buffer=50", "--seed=3",
        "--model_overrides=dropout=0", f"--train_steps={STEPS}"]


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def zoo_train(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "zoo.cli.train", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def two_workers(model_dir, args, tmp_root):
    """Starts the chief (told by TF_CONFIG) and the other worker (by --worker_hosts),
    each with its own TMPDIR under `tmp_root`; returns (processes, tmpdirs)."""
    hosts = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes, tmpdirs = [], []
    for index in range(2):
        tmpdirs.append(tmp_root / f"tmp{index}")
        tmpdirs[-1].mkdir()
        env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
        env["TMPDIR"] = str(tmpdirs[-1])
        cluster = ["--worker_hosts=" + ",".join(hosts), f"--task_index={index}"]
        if index == 0:
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": hosts},
                                           "task": {"type": "worker", "index": 0}})
            cluster = []
        processes.append(zoo_train(f"--model_dir={model_dir}", "--strategy=multi_worker",
                                   *cluster, *args, env=env))
    return processes, tmpdirs


def one_device(model_dir, args):
    """zoo-train in this process, reading the two workers' shards."""
    FLAGS.unparse_flags()
    FLAGS(["zoo-train", f"--model_dir={model_dir}", "--strategy=one_device", "--noexport",
           "--input_shards=2", *args])
    train_cli.main(["zoo-train"])


def finished(processes):
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    for process, out in zip(processes, outputs):
        assert process.returncode == 0, out
    return outputs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A two-worker run (one shared --model_dir, each worker its own TMPDIR, to see who
    writes what) and a one_device run of the same stream."""
    root = tmp_path_factory.mktemp("multi_worker")
    train = [write_corpus(str(root / f"train{k}.txt"), 150, seed=5 + k) for k in (0, 1)]
    data = [f"--train_data={','.join(train)}",
            f"--eval_data={write_corpus(str(root / 'eval.txt'), 30, seed=7)}"]
    processes, tmpdirs = two_workers(root / "shared", [*data, *NANO], root)
    one = str(root / "one")
    one_device(one, [*data, *NANO])  # meanwhile
    return {"chief": str(root / "shared"), "one": one, "tmpdirs": tmpdirs, "data": data,
            "outputs": finished(processes)}


def test_two_workers_train_like_one_device(runs):
    assert "2 replica(s) (CollectiveAllReduceStrategy)" in runs["outputs"][0]
    for worker, out in enumerate(runs["outputs"]):
        assert f"input: worker {worker} of 2 reads shard {worker} of 2: 1 of 2 file(s)" in out
    one = losses(runs["one"])
    assert len(one) == STEPS // 2 and one[-1] < one[0]
    np.testing.assert_allclose(losses(runs["chief"]), one, rtol=1e-5)
    weights, expected = checkpoint_arrays(runs["chief"]), checkpoint_arrays(runs["one"])
    assert weights.keys() == expected.keys() and len(weights) > 10
    for name, value in expected.items():
        np.testing.assert_allclose(weights[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def test_only_the_chief_writes(runs):
    chief = runs["chief"]
    assert tf.train.latest_checkpoint(chief).endswith(f"ckpt-{STEPS}")
    assert os.listdir(os.path.join(chief, "export")) == ["1"]
    for name in ("config.json", "vocab.txt", "train_log.jsonl", "eval_log.jsonl",
                 "report.html", "train", "eval"):
        assert os.path.exists(os.path.join(chief, name)), name
    # The other worker wrote (collectively saved) into a temporary directory, now gone.
    out = runs["outputs"][1]
    temporary = out.split("checkpoint: ", 1)[1].split()[0]
    assert temporary.startswith(str(runs["tmpdirs"][1])) and temporary.endswith(f"ckpt-{STEPS}")
    # ...but for its input position, saved into model_dir beside the chief's.
    assert sorted(os.listdir(os.path.join(chief, "input"))) == ["worker-0-of-2",
                                                               "worker-1-of-2"]
    for worker in (0, 1):
        assert saved_position(chief, STEPS, worker, workers=2), worker
    # The chief trained the vocab; the other worker copied it from model_dir.
    assert "training a wordpiece vocab" in runs["outputs"][0]
    assert "training a wordpiece vocab" not in out
    assert os.listdir(runs["tmpdirs"][1]) == [] and os.listdir(runs["tmpdirs"][0]) == []
    assert "export:" not in out and "report:" not in out


# -- bad flags fail before any work --------------------------------------------------

HOSTS = "127.0.0.1:2222,127.0.0.1:2223"
TF_CONFIG = json.dumps({"cluster": {"worker": HOSTS.split(",")},
                        "task": {"type": "worker", "index": 1}})


@pytest.mark.parametrize("options, tf_config, message", [
    (dict(worker_hosts=HOSTS.split(",")), None,
     "--worker_hosts needs --task_index (this worker's position in --worker_hosts; 0 is "
     "the chief)"),
    (dict(worker_hosts=HOSTS.split(","), task_index=2), None,
     "--task_index=2 is out of range: --worker_hosts lists 2 host(s) (0-1)"),
    (dict(worker_hosts=["127.0.0.1"], task_index=0), None,
     "--worker_hosts entry '127.0.0.1' is not host:port"),
    (dict(worker_hosts=HOSTS.split(","), task_index=0), TF_CONFIG,
     "TF_CONFIG is set and --worker_hosts is given; describe the cluster with one of them"),
    (dict(task_index=0), TF_CONFIG,
     "--task_index goes with --worker_hosts; with TF_CONFIG this worker's task is "
     "TF_CONFIG's 'task'"),
    ({}, None, "--strategy=multi_worker needs the cluster: set TF_CONFIG, or give "
               "--worker_hosts=host:port,... and --task_index"),
    ({}, '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
     "TF_CONFIG task index 1 is out of range: job 'worker' lists 1 host(s)"),
    ({}, '{"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {"type": "ps"}}',
     "TF_CONFIG task type 'ps' is not supported by --strategy=multi_worker (only chief "
     "and worker)"),
    ({}, "worker:0",
     'TF_CONFIG must be JSON like {"cluster": {"worker": ["host:port", "..."]}, "task": '
     '{"type": "worker", "index": 0}}; it is \'worker:0\' (JSONDecodeError: Expecting value'),
    ({}, '{"cluster": {"worker": ["a:1"]}}', "TF_CONFIG must be JSON like {"),
    (dict(strategy="mirrored", worker_hosts=HOSTS.split(","), task_index=0), None,
     "--worker_hosts and --task_index need --strategy=multi_worker"),
    (dict(strategy="one_device", tpu="my-tpu"), None, "--tpu needs --strategy=tpu"),
    (dict(worker_hosts=HOSTS.split(","), task_index=0, input_shards=3), None,
     "--input_shards=3 cannot be split evenly among the 2 workers: give a multiple of 2"),
    (dict(strategy="one_device", input_shards=3), None,
     "--global_batch_size=32 is not divisible by 3 input shards (--input_shards; 0: one "
     "per worker)"),
    (dict(strategy="one_device", input_shards=-1), None,
     "--input_shards must be 0 (one per worker) or positive, got -1"),
    (dict(cpu_replicas=2), TF_CONFIG, "--cpu_replicas needs --strategy=mirrored"),
    (dict(mode="eval", eval_data="x.txt"), TF_CONFIG,
     "--mode=eval runs in one process; --strategy=multi_worker is for training"),
])
def test_bad_cluster_flags_fail_before_any_work(tmp_path, monkeypatch, options, tf_config,
                                                message):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    if tf_config:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    model_dir = str(tmp_path / "run")
    opts = default_options(**{"model_dir": model_dir, "model": "bert_nano",
                              "strategy": "multi_worker", **options})
    with pytest.raises(UsageError) as error:
        train_from_flags(opts)
    assert str(error.value).startswith(message)
    assert not os.path.exists(model_dir)


@pytest.mark.parametrize("name, content, reason", [
    ("train.jsonl", '{"text": "a b", "label": 1}\n', "JSONL lines are decoded by Python's json"),
    ("train.csv", 'text,label\n"a, b",1\n', "they need the Python reader (a CSV with quote "
                                              "characters, or a carriage return inside a line)"),
])
def test_tpu_refuses_training_files_the_host_decodes_in_python(tmp_path, name, content,
                                                               reason):
    data = tmp_path / name
    data.write_text(content)
    model_dir = str(tmp_path / "run")
    with pytest.raises(UsageError) as error:  # before looking for a TPU
        train_from_flags(default_options(model_dir=model_dir, model="bert_nano",
                                         task="classification", strategy="tpu", tpu="local",
                                         train_data=str(data)))
    assert str(error.value) == (
        "--strategy=tpu reads its training data with tf.data's own ops, but these files "
        f"cannot be: {reason}. Convert them with zoo-prep (zoo-prep --train_data=... "
        "--output=train.tfrecord, or train.tsv) and train on the result")
    assert not os.path.exists(model_dir)


def test_tpu_address_nothing_listens_on_fails_fast(tmp_path):
    port = free_ports(1)[0]
    model_dir = str(tmp_path / "run")
    with pytest.raises(UsageError) as error:
        train_from_flags(default_options(model_dir=model_dir, model="bert_nano",
                                         strategy="tpu", tpu=f"grpc://127.0.0.1:{port}"))
    assert str(error.value).startswith(f"no TPU found for --tpu=grpc://127.0.0.1:{port}: "
                                       f"cannot connect to 127.0.0.1:{port} (")
    assert not os.path.exists(model_dir)


def test_tpu_without_a_tpu_is_a_one_line_error(tmp_path):
    model_dir = str(tmp_path / "run")
    process = zoo_train(f"--model_dir={model_dir}", "--model=bert_nano", "--strategy=tpu",
                        "--tpu=local")
    out = process.communicate(timeout=300)[0]
    assert process.returncode == 2, out
    assert "error: no TPU found for --tpu=local: TPUs not found in the cluster." in out
    assert "Traceback" not in out and not os.path.exists(model_dir)


def test_two_workers_resume_from_their_own_input_positions(runs, tmp_path):
    """Copies of both runs trained on to RESUMED steps: each worker restores its input
    position, and the two still train like one device."""
    shared, one = str(tmp_path / "shared"), str(tmp_path / "one")
    shutil.copytree(runs["chief"], shared)
    shutil.copytree(runs["one"], one)
    more = [*runs["data"], *NANO, f"--train_steps={RESUMED}", "--noexport"]
    processes, _ = two_workers(shared, more, tmp_path)
    one_device(one, more)
    for worker, out in enumerate(finished(processes)):
        position = saved_position(shared, STEPS, worker, workers=2)
        assert f"at step {STEPS}; input restored from {position}" in out, out
    assert len(losses(one)) == RESUMED // 2
    np.testing.assert_allclose(losses(shared), losses(one), rtol=1e-5)
    weights, expected = checkpoint_arrays(shared), checkpoint_arrays(one)
    assert tf.train.latest_checkpoint(shared).endswith(f"ckpt-{RESUMED}")
    for name, value in expected.items():
        np.testing.assert_allclose(weights[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def test_sigterm_to_one_worker_inside_a_host_loop_stops_both_after_a_step(runs, tmp_path):
    """SIGTERM to the non-chief worker inside a 200-step host loop: both workers leave
    the loop before the same step (the stop flag is or-ed over them before each
    step), save together and exit 0 within seconds; the same command then ends with
    the weights of an uninterrupted two-worker run, bit for bit."""
    import threading
    import time
    args = [*runs["data"], *NANO, "--train_steps=400", "--steps_per_loop=200",
            "--checkpoint_every=200", "--noexport"]
    for name in "abc":
        (tmp_path / name).mkdir()
    straight, _ = two_workers(tmp_path / "straight", args, tmp_path / "a")
    model_dir = tmp_path / "run"
    processes, _ = two_workers(model_dir, args, tmp_path / "b")
    lines, sent = [], {}

    def read_worker_1():  # SIGTERM 1 s into the second host loop (steps 201-400)
        for line in processes[1].stdout:
            lines.append(line)
            if line.startswith("step 200/400") and not sent:
                # The first loop's checkpoint is saved after its log line; the
                # second loop starts once it is (on a loaded machine a fixed
                # delay after the log line could land before its first step).
                deadline = time.time() + 300
                while not (model_dir / "ckpt-200.index").exists() and time.time() < deadline:
                    time.sleep(0.05)
                time.sleep(1.0)  # (the 200 steps of the next loop take seconds)
                sent["time"] = time.time()
                processes[1].send_signal(signal.SIGTERM)
    reader = threading.Thread(target=read_worker_1)
    reader.start()
    chief_out = processes[0].communicate(timeout=600)[0]
    processes[1].wait(timeout=600)
    reader.join()
    seconds, out = time.time() - sent["time"], "".join(lines)
    assert processes[0].returncode == processes[1].returncode == 0, (chief_out, out)
    assert "SIGTERM: saved " in out, out[-4000:]
    stopped = int(out.split("SIGTERM: saved ", 1)[1].split(";")[0].rsplit("ckpt-", 1)[1])
    assert 200 < stopped < 400, out
    assert f"SIGTERM (to another worker): saved {model_dir}/ckpt-{stopped};" in chief_out
    assert tf.train.latest_checkpoint(str(model_dir)).endswith(f"ckpt-{stopped}")
    assert seconds < 20, seconds  # (one step of this model takes milliseconds)

    finished(straight)
    processes, _ = two_workers(model_dir, args, tmp_path / "c")
    assert f"at step {stopped}; input restored from" in finished(processes)[0]
    weights, expected = checkpoint_arrays(str(model_dir)), checkpoint_arrays(
        str(tmp_path / "straight"))
    assert weights.keys() == expected.keys() and len(weights) > 10
    for name, value in expected.items():
        np.testing.assert_array_equal(weights[name], value, err_msg=name)
