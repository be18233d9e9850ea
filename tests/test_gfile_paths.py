"""Every path through tf.io.gfile: a run whose model_dir, data, vocab, logs, report,
config and export are all on TF's in-memory `ram://` file system (the stand-in
for gs:// and s3://) trains, resumes, exports and serves, and writes nothing to a
local folder named `ram:`. Also: gzipped input of every text format, and the
vocab sample's sizes.
"""
import gzip
import json
import os

import pytest
import tensorflow as tf

from zoo import atomic_files, fileio
from zoo.cli import train as train_cli  # noqa: F401  (defines the zoo-train flags)
from zoo.data import builtin
from zoo.data.formats.files import expand_paths
from zoo.data.formats.readers import DataError, file_format, iter_rows, read_examples
from flagrun import train

ROOT = "ram://zoo-test"
SMALL = ["--model=bert_nano", "--seq_len=32", "--global_batch_size=8", "--steps_per_loop=3",
         "--vocab_size=200", "--task_config=packing=false", "--eval_steps=2"]


def rows_of(dataset):
    return [{k: v.numpy().decode() for k, v in row.items()} for row in dataset]


@pytest.fixture
def ram(tmp_path, monkeypatch):
    """A clean ram:// root; the working directory is tmp_path, where a path mistaken
    for a local one would create a folder named `ram:`."""
    monkeypatch.chdir(tmp_path)
    fileio.rmtree(ROOT)
    yield ROOT
    fileio.rmtree(ROOT)
    assert not os.path.exists(tmp_path / "ram:"), os.listdir(tmp_path / "ram:")
    assert not os.path.exists("/ram:")


def put(local, remote):
    tf.io.gfile.makedirs(os.path.dirname(remote))
    tf.io.gfile.copy(str(local), remote, overwrite=True)
    return remote


def test_train_resume_export_predict_on_ram(ram, tmp_path, capsys):
    local = tmp_path / "train.txt"
    local.write_text("\n".join(builtin.generate_lines(300, 0)) + "\n")
    train_data = put(local, f"{ram}/data/train.txt")
    eval_data = f"{ram}/data/eval.txt.gz"  # gzipped, on ram:// too
    with tf.io.gfile.GFile(eval_data, "wb") as handle:
        handle.write(gzip.compress(("\n".join(builtin.generate_lines(40, 1)) + "\n").encode()))
    model_dir = f"{ram}/runs/mlm"
    flags_ = [f"--model_dir={model_dir}", f"--train_data={ram}/data/*.txt",
              f"--eval_data={eval_data}", *SMALL]

    logs = train(*flags_, "--train_steps=6", "--noexport")
    assert logs["train"]["loss"] > 0 and "loss" in logs["eval"]
    names = set(tf.io.gfile.listdir(model_dir))
    assert {"config.json", "vocab.txt", "train_log.jsonl", "eval_log.jsonl", "report.html",
            "report.svg", "checkpoint"} <= names, names
    assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-6")
    config = json.loads(fileio.read_text(f"{model_dir}/config.json"))
    assert config["training"]["train_data"] == [train_data]
    steps = [json.loads(line)["step"] for line in
             fileio.read_text(f"{model_dir}/train_log.jsonl").splitlines()]
    assert steps == [3, 6]

    capsys.readouterr()
    train(*flags_, "--train_steps=9", "--export")
    out = capsys.readouterr().out
    assert "resumed from" in out and "at step 6" in out
    steps = [json.loads(line)["step"] for line in
             fileio.read_text(f"{model_dir}/train_log.jsonl").splitlines()]
    assert steps == [3, 6, 9]
    export_dir = f"{model_dir}/export"
    assert tf.io.gfile.listdir(export_dir) == ["1"]  # the temporary copy is gone
    version = f"{export_dir}/1"
    assert tf.io.gfile.exists(f"{version}/saved_model.pb")
    assert tf.io.gfile.exists(f"{version}/assets.extra/tf_serving_warmup_requests")
    assert json.loads(fileio.read_text(f"{version}/assets.extra/zoo.json"))["checkpoint"] \
        == "ckpt-9"

    # Served from ram://: the raw-text signature, as zoo-predict loads it.
    from zoo.cli.predict import _signature_from_export
    signature, inputs, task = _signature_from_export(export_dir, "serving_default")
    assert task == "mlm" and len(inputs) == 1
    outputs = signature(**{inputs[0]: tf.constant(["the small cat [MASK] in the garden ."])})
    assert outputs and all(value.shape[0] == 1 for value in outputs.values())



def test_atomic_writes_on_ram(ram):
    atomic_files.atomic_write_text(f"{ram}/a/config.json", "{}\n")
    atomic_files.atomic_write_text(f"{ram}/a/config.json", "{\"b\": 1}\n")  # replaces
    assert fileio.read_text(f"{ram}/a/config.json") == "{\"b\": 1}\n"
    with pytest.raises(RuntimeError):
        with atomic_files.atomic_open(f"{ram}/a/log.txt") as handle:
            handle.write("partial")
            raise RuntimeError("stop")
    assert tf.io.gfile.listdir(f"{ram}/a") == ["config.json"]  # no temporary file left
    with atomic_files.atomic_directory(f"{ram}/export/1") as tmp:
        atomic_files.atomic_write_text(f"{tmp}/saved_model.pb", "pb")
        fileio.makedirs(f"{tmp}/variables")
        atomic_files.atomic_write_text(f"{tmp}/variables/data", "v")
    assert tf.io.gfile.listdir(f"{ram}/export") == ["1"]
    assert fileio.read_text(f"{ram}/export/1/variables/data") == "v"
    with pytest.raises(FileExistsError):
        with atomic_files.atomic_directory(f"{ram}/export/1"):
            pass
    atomic_files.append_text(f"{ram}/a/log.jsonl", "1\n")
    atomic_files.append_text(f"{ram}/a/log.jsonl", "2\n")
    assert fileio.read_text(f"{ram}/a/log.jsonl") == "1\n2\n"
    with pytest.raises(FileNotFoundError):
        fileio.read_text(f"{ram}/missing.txt")


def test_data_paths_on_ram(ram):
    for name in ("b.tsv", "a.tsv", "notes.md"):
        atomic_files.atomic_write_text(f"{ram}/d/{name}", "text\tlabel\nhi\t1\n")
    assert expand_paths(f"{ram}/d/*.tsv") == [f"{ram}/d/a.tsv", f"{ram}/d/b.tsv"]
    with pytest.raises(FileNotFoundError, match=r"is a directory.*\*\.tsv"):
        expand_paths(f"{ram}/d")
    with pytest.raises(FileNotFoundError, match="no data file matches"):
        expand_paths(f"{ram}/d/none.txt")
    assert rows_of(read_examples([f"{ram}/d/a.tsv"], ("text", "label"))) == [
        {"text": "hi", "label": "1"}]


def test_vocab_sample_on_ram(ram):
    """The sample's budget against file sizes from gfile (a gzipped file's scaled by
    its compression ratio): the same sample as from the plain file."""
    from zoo.data.tokenizers.vocab_sample import estimated_bytes, sample_texts
    text = "".join(f"line {i} " + "word " * (i % 17) + "\n" for i in range(2000))
    atomic_files.atomic_write_text(f"{ram}/c.txt", text)
    with fileio.open_file(f"{ram}/c.txt.gz", "wb") as handle:
        handle.write(gzip.compress(text.encode()))
    assert fileio.file_size(f"{ram}/c.txt.gz") < len(text) / 3
    assert estimated_bytes(f"{ram}/c.txt") == estimated_bytes(f"{ram}/c.txt.gz") == len(text)
    plain, zipped = (list(sample_texts([path], budget=len(text) // 3, seed=1))
                     for path in (f"{ram}/c.txt", f"{ram}/c.txt.gz"))
    assert plain == zipped and 500 < len(plain) < 800


# -- gzipped input ----------------------------------------------------------------

CORPORA = {
    "corpus.txt": "first line\n\nsecond line\nthird line\n",
    "corpus.tsv": "label\ttext\n1\tgood film\n0\tbad film\n",
    "corpus.csv": "label,text\n1,\"good, film\"\n0,bad film\n",
    "corpus.jsonl": '{"text": "good film", "label": 1}\n{"text": "bad film", "label": 0}\n',
}


@pytest.mark.parametrize("name", sorted(CORPORA))
@pytest.mark.parametrize("text_mode", ["line", "paragraph"])
@pytest.mark.parametrize("where", ["local", "ram"])
def test_gzipped_corpus_gives_the_same_examples(name, text_mode, where, tmp_path, ram):
    base = str(tmp_path) if where == "local" else ram
    plain, zipped = f"{base}/{name}", f"{base}/{name}.gz"
    atomic_files.atomic_write_text(plain, CORPORA[name])
    with fileio.open_file(zipped, "wb") as handle:
        handle.write(gzip.compress(CORPORA[name].encode()))
    assert file_format(zipped) == file_format(plain)
    fields = ("text",) if name.endswith(".txt") else ("text", "label")
    expected = rows_of(read_examples([plain], fields, text_mode))
    assert expected and rows_of(read_examples([zipped], fields, text_mode)) == expected
    assert [n for n, _ in iter_rows(zipped, fields, text_mode)] == \
        [n for n, _ in iter_rows(plain, fields, text_mode)]
    assert expand_paths(f"{base}/{name}*") == [plain, zipped]


def test_gzipped_errors_name_file_and_line(tmp_path):
    path = str(tmp_path / "bad.jsonl.gz")
    with open(path, "wb") as handle:
        handle.write(gzip.compress(b'{"text": "ok"}\n{"text": 3}\n'))
    with pytest.raises(DataError, match=r"bad\.jsonl\.gz:2: field 'text' must be a string"):
        list(iter_rows(path, ("text",)))


def test_gzipped_tfrecord(tmp_path):
    path = str(tmp_path / "data.tfrecord.gz")
    example = tf.train.Example(features=tf.train.Features(feature={"text": tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[b"a line"]))}))
    with tf.io.TFRecordWriter(path, "GZIP") as writer:
        writer.write(example.SerializeToString())
    assert [row for _, row in iter_rows(path, ("text",))] == [{"text": "a line"}]
    assert rows_of(read_examples([path])) == [{"text": "a line"}]


def test_gzipped_output_of_atomic_open(tmp_path):
    path = str(tmp_path / "clean.txt.gz")
    with atomic_files.atomic_open(path) as handle:
        handle.write("a\nb\n")
    assert gzip.decompress(open(path, "rb").read()) == b"a\nb\n"
