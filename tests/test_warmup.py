"""The TF Serving warm-up file of an export: PredictionLog records (TFRecord) whose
requests, replayed against the loaded SavedModel, succeed (TF Serving replays them
when it loads a version, and refuses the version if one fails)."""
import os
import random

import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the TF Text ops the exports use)

from zoo.cli import train as train_cli  # noqa: F401  (defines the zoo-train flags)
from zoo.serve.export import WARMUP_FILE
from flagrun import train

WORDS = "red green blue cat dog bird runs sits jumps big small old".split()


def write_data(root):
    rng = random.Random(0)
    sentences = [" ".join(rng.sample(WORDS, 5)) for _ in range(64)]
    (root / "text.txt").write_text("\n".join(sentences) + "\n")
    (root / "labels.tsv").write_text("sentence\tlabel\n" + "".join(
        f"{s}\t{'pos' if 'cat' in s else 'neg'}\n" for s in sentences))
    (root / "pairs.tsv").write_text("source\ttarget\n" + "".join(
        f"{s}\t{' '.join(reversed(s.split()))}\n" for s in sentences))
    return root


CASES = {
    "mlm": ["--model=bert_nano", "--task=mlm", "--train_data={root}/text.txt"],
    "classification": ["--model=bert_nano", "--task=classification",
                       "--train_data={root}/labels.tsv"],
    "clm": ["--model=gpt_nano", "--task=clm", "--tokenizer=char",
            "--train_data={root}/text.txt", "--task_config=max_new_tokens=4"],
    "translation": ["--model=t5_nano", "--task=translation", "--train_data={root}/pairs.tsv",
                    "--task_config=max_new_tokens=4"],
}


def read_requests(export):
    from tensorflow_serving.apis import prediction_log_pb2
    path = os.path.join(export, "assets.extra", WARMUP_FILE)
    logs = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    return logs


@pytest.mark.parametrize("case", sorted(CASES))
def test_warmup_requests_parse_and_replay(case, tmp_path):
    root = write_data(tmp_path)
    model_dir = str(tmp_path / "run")
    train(f"--model_dir={model_dir}", "--train_steps=2", "--steps_per_loop=2",
          "--global_batch_size=8", "--seq_len=16", "--vocab_size=200",
          *[flag.format(root=root) for flag in CASES[case]])
    export = os.path.join(model_dir, "export", "1")
    logs = read_requests(export)
    assert logs, "the warm-up file holds no request"
    loaded = tf.saved_model.load(export)
    for log in logs:
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        assert request.model_spec.name == "export"
        signature = loaded.signatures[request.model_spec.signature_name]
        inputs = {name: tf.constant(tf.make_ndarray(proto))
                  for name, proto in request.inputs.items()}
        assert set(inputs) == set(signature.structured_input_signature[1])
        outputs = signature(**inputs)
        assert outputs and all(int(tf.size(value)) > 0 for value in outputs.values())
