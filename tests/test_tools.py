"""zoo-vocab, zoo-list, the training report, and model parameter counts."""
import dataclasses
import json
import subprocess
import sys
from xml.etree import ElementTree

import pytest
import tensorflow as tf
from absl import flags

from plugins import MODELS, load_plugins
from zoo.data.builtin import write_corpus
from zoo.models.bert import parameter_count


@pytest.mark.parametrize("name", ["bert_nano", "bert_tiny"])
def test_parameter_count_matches_the_built_model(name):
    load_plugins()
    spec = MODELS.get(name)
    config = dataclasses.replace(spec.config, vocabulary_size=777)
    assert parameter_count(config, 777) == spec.builder(config).count_params()


def test_zoo_vocab_writes_a_usable_vocab(tmp_path):
    corpus = write_corpus(str(tmp_path / "c.txt"), 300, seed=2)
    from zoo.cli import vocab
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["zoo-vocab", f"--train_data={corpus}", "--vocab_size=200",
                 f"--output={tmp_path}/v.txt"])
    vocab.main(["zoo-vocab"])
    from zoo.data.tokenizers.wordpiece import WordPieceEncoder
    encoder = WordPieceEncoder(str(tmp_path / "v.txt"), seq_len=16)
    assert encoder.vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ids = list(encoder.tokenize(tf.constant(["the wise owl"]))[0])
    assert encoder.unk_id not in ids


@pytest.mark.parametrize("kind", ["sentencepiece_unigram", "sentencepiece_bpe"])
def test_zoo_vocab_trains_sentencepiece_models(tmp_path, kind):
    import tensorflow_text as tf_text
    corpus = write_corpus(str(tmp_path / "c.txt"), 300, seed=2)
    from zoo.cli import vocab
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["zoo-vocab", f"--train_data={corpus}", "--vocab_size=120", f"--type={kind}",
                 f"--output={tmp_path}/spm.model"])
    vocab.main(["zoo-vocab"])
    tokenizer = tf_text.SentencepieceTokenizer(model=open(tmp_path / "spm.model", "rb").read())
    ids = tokenizer.tokenize(tf.constant(["the wise owl sleeps ."]))
    assert tokenizer.detokenize(ids).numpy()[0].decode() == "the wise owl sleeps ."
    assert int(tokenizer.vocab_size()) <= 120 and (tmp_path / "spm.vocab").exists()
    assert tokenizer.id_to_string(4).numpy().decode() == "[MASK]"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt", "spm.model", "spm.vocab"]


def test_zoo_list_shows_models_tasks_and_sources():
    out = subprocess.run([sys.executable, "-m", "zoo.cli.list"], capture_output=True,
                         text=True, timeout=300).stdout
    assert "bert_base      encoder          BERT L12/H768/A12, 109.5M params" in out
    for task in ("mlm", "nsp", "mlm_nsp", "classification", "regression"):
        assert f"  {task} " in out and f"[tasks.{task} (built-in)]" in out
    assert "signatures: serving_default, next_sentence, tokenize;" in out
    assert "strategies: auto, one_device, mirrored" in out


SVG = "{http://www.w3.org/2000/svg}"


def test_report_draws_the_logs(tmp_path):
    from zoo.evaluate.report import write_report
    with open(tmp_path / "train_log.jsonl", "w") as handle:
        for step in (10, 20):
            handle.write(json.dumps({"step": step, "loss": 3.0 / step, "learning_rate": 1e-3,
                                     "tokens_per_sec": 100.0, "time": 0}) + "\n")
    (tmp_path / "eval_log.jsonl").write_text(json.dumps({"step": 20, "loss": 0.2}) + "\n")
    page = open(write_report(str(tmp_path))).read()
    figure = ElementTree.fromstring((tmp_path / "report.svg").read_text())
    assert figure.tag == SVG + "svg" and figure.get("width") == "1040"
    panels = figure.findall(SVG + "svg")
    assert [p.find(SVG + "text").text for p in panels] == [
        "training loss", "learning rate", "tokens/s (padded)", "evaluation"]
    # Each line has a point per logged step: the loss falls from 10 to 20, so its
    # second point is lower on the page (a larger y).
    loss = [tuple(map(float, xy.split(","))) for xy in
            panels[0].find(SVG + "polyline").get("points").split()]
    assert len(loss) == 2 and loss[0][0] < loss[1][0] and loss[0][1] < loss[1][1]
    assert [line.find(SVG + "title").text for line in panels[3].findall(SVG + "polyline")] \
        == ["loss"]
    assert page.count("<svg") == 5 and "last evaluation" in page
    with pytest.raises(FileNotFoundError, match="has no train_log.jsonl"):
        write_report(str(tmp_path / "missing"))
