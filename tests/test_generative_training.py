"""End to end for GPT and T5: clm, translation and span corruption train (loss
falls, beats chance), evaluate, export, and the exported generate/translate
signatures match zoo-predict's in-process decoding."""
import json
import os
import random

import pytest
import tensorflow as tf
from absl import flags

from zoo.cli import common
from zoo.cli import predict as predict_cli  # noqa: F401  (defines zoo-predict flags)
from zoo.cli import train as train_cli  # noqa: F401  (defines the zoo-train flags)
from zoo.evaluate.corpus_metrics import corpus_bleu
from flagrun import train

FLAGS = flags.FLAGS
WORDS = "red green blue cat dog bird runs sits jumps big small old".split()
#: A toy "German" for WORDS: one word each, same order.
GERMAN = dict(zip(WORDS, "rot gruen blau katze hund vogel laeuft sitzt springt gross klein "
                         "alt".split()))


def predict(capsys, *args):
    FLAGS.unparse_flags()
    argv = FLAGS(["zoo-predict", *args])
    capsys.readouterr()
    predict_cli.main(argv)
    return [line for line in capsys.readouterr().out.splitlines()
            if not line.startswith("plugin: ")]


def log(model_dir):
    with open(os.path.join(model_dir, "train_log.jsonl")) as handle:
        return [json.loads(line) for line in handle]


def call_every_signature(export_path, inputs):
    loaded = tf.saved_model.load(export_path)
    outputs = {}
    for name, function in loaded.signatures.items():
        (input_name,) = function.structured_input_signature[1]
        values = inputs.get(input_name, ["a b c"])
        outputs[name] = function(**{input_name: tf.constant(values)})
    return outputs


@pytest.fixture(scope="module")
def poem(tmp_path_factory):
    """Paragraphs of a fixed alphabet cycle: next characters are predictable."""
    path = tmp_path_factory.mktemp("data") / "poem.txt"
    rng = random.Random(0)
    paragraphs = []
    for _ in range(300):
        start = rng.randrange(26)
        paragraphs.append("".join(chr(97 + (start + i) % 26) for i in range(rng.randint(20, 60))))
    path.write_text("\n\n".join(paragraphs) + "\n")
    return str(path)


def test_clm_trains_exports_and_generates_like_zoo_predict(poem, tmp_path, capsys):
    model_dir = str(tmp_path / "gpt")
    logs = train(f"--model_dir={model_dir}", "--model=gpt_nano", "--task=clm",
                 "--tokenizer=char", "--text_mode=paragraph", f"--train_data={poem}",
                 f"--eval_data={poem}", "--seq_len=32", "--global_batch_size=16",
                 "--train_steps=120", "--steps_per_loop=40", "--learning_rate=3e-3",
                 "--eval_steps=4", "--task_config=max_new_tokens=12")
    losses = [r["loss"] for r in log(model_dir)]
    assert losses[-1] < 0.5 * losses[0]
    vocab = json.load(open(os.path.join(model_dir, "chars.json")))["tokens"]
    assert logs["eval"]["token_accuracy"] > 0.5 > 2.0 / len(vocab)
    assert logs["eval"]["perplexity"] < 4.0
    export = os.path.join(model_dir, "export", "1")
    outputs = call_every_signature(export, {"prompt": ["abcdef", "mnop"]})
    assert set(outputs) == {"serving_default", "generate", "tokenize"}
    completions = [c.decode() for c in outputs["generate"]["completion"].numpy()]
    # The alphabet continues (the learnable rule), from the prompt's last letter.
    assert completions[0].startswith("ghi") and completions[1].startswith("qrs")
    from_checkpoint = predict(capsys, f"--model_dir={model_dir}", "abcdef", "mnop")
    assert from_checkpoint == [f"abcdef{completions[0]}", f"mnop{completions[1]}"]
    assert predict(capsys, f"--export_dir={model_dir}/export", "abcdef", "mnop") == \
        from_checkpoint


def copy_pairs(directory, count, seed):
    """Source: random words; target: their word-for-word translation."""
    rng = random.Random(seed)
    sources, targets = [], []
    for _ in range(count):
        words = rng.sample(WORDS, rng.randint(4, 6))
        sources.append(" ".join(words))
        targets.append(" ".join(GERMAN[w] for w in words))
    (directory / "src.txt").write_text("\n".join(sources) + "\n")
    (directory / "tgt.txt").write_text("\n".join(targets) + "\n")
    return f"{directory}/src.txt,{directory}/tgt.txt"


def test_translation_trains_evaluates_bleu_and_exports_translate(tmp_path, capsys):
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    train_data = copy_pairs(tmp_path / "train", 800, 0)
    test_data = copy_pairs(tmp_path / "test", 40, 1)
    model_dir = str(tmp_path / "t5")
    common_flags = ["--model=t5_nano", "--task=translation", "--seq_len=12",
                    "--vocab_size=200", "--global_batch_size=32", "--steps_per_loop=100",
                    "--learning_rate=3e-3", "--task_config=max_new_tokens=8",
                    "--model_overrides=dropout=0"]
    train(f"--model_dir={model_dir}", f"--train_data={train_data}", "--train_steps=300",
          "--tokenizer=wordpiece", *common_flags)
    losses = [r["loss"] for r in log(model_dir)]
    assert losses[-1] < 0.5 * losses[0]
    capsys.readouterr()
    result = train("--mode=eval", f"--model_dir={model_dir}", f"--eval_data={test_data}",
                   "--global_batch_size=16")["eval"]
    assert "bleu" in capsys.readouterr().out
    assert result["token_accuracy"] > 0.35  # chance: under 0.2 (end token), 0.01 per word
    sources = (tmp_path / "test" / "src.txt").read_text().splitlines()
    references = (tmp_path / "test" / "tgt.txt").read_text().splitlines()
    outputs = call_every_signature(os.path.join(model_dir, "export", "1"), {"source": sources})
    assert set(outputs) == {"serving_default", "translate", "tokenize"}
    exported = [t.decode() for t in outputs["translate"]["translation"].numpy()]
    # Evaluation decodes (greedy) exactly as the exported signature does.
    assert result["bleu"] == pytest.approx(corpus_bleu(exported, references))
    assert result["bleu"] > 3.0
    lines = predict(capsys, f"--model_dir={model_dir}", *sources[:3])
    assert lines == [f"{s}\t{t}" for s, t in zip(sources[:3], exported)]


def test_transformer_learns_a_toy_translation_fast(tmp_path):
    """The recommended translation family learns the word-for-word toy mapping in
    a few hundred steps (its learned positions align source and target after
    about 350): near-perfect BLEU on held-out sentences, decoded as the export
    decodes."""
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    train_data = copy_pairs(tmp_path / "train", 800, 0)
    test_data = copy_pairs(tmp_path / "test", 40, 1)
    logs = train(f"--model_dir={tmp_path}/tr", "--model=transformer_nano", "--task=translation",
                 f"--train_data={train_data}", f"--eval_data={test_data}", "--seq_len=12",
                 "--vocab_size=200", "--tokenizer=wordpiece", "--global_batch_size=32",
                 "--train_steps=600", "--steps_per_loop=200", "--learning_rate=1e-3",
                 "--model_overrides=dropout=0", "--task_config=max_new_tokens=8",
                 "--export=false")
    assert logs["eval"]["bleu"] > 80.0, logs["eval"]
    assert logs["eval"]["token_accuracy"] > 0.9


def test_span_corruption_pretraining_then_translation_fine_tuning(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    pairs = copy_pairs(tmp_path / "data", 300, 2)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text((tmp_path / "data" / "src.txt").read_text() * 3)
    pretrain = str(tmp_path / "pre")
    train(f"--model_dir={pretrain}", "--model=t5_nano", "--task=span_corruption",
          f"--train_data={corpus}", "--seq_len=24", "--vocab_size=200",
          "--global_batch_size=16", "--train_steps=20", "--steps_per_loop=10",
          "--learning_rate=3e-3", "--tokenizer=sentencepiece_unigram", "--noexport")
    losses = [r["loss"] for r in log(pretrain)]
    assert losses[-1] < losses[0]  # (its export: the conformance kit's span_corruption case)
    capsys.readouterr()
    train(f"--model_dir={tmp_path}/ft", "--model=t5_nano", "--task=translation",
          f"--train_data={pairs}", f"--init_checkpoint={pretrain}", "--seq_len=24",
          "--global_batch_size=16", "--train_steps=5", "--steps_per_loop=5", "--noexport")
    out = capsys.readouterr().out
    assert "(from --init_checkpoint)" in out and "unmatched 0" in out
    assert json.load(open(f"{tmp_path}/ft/config.json"))["tokenizer"] == "sentencepiece_unigram"


def test_task_and_family_mismatch_fails_before_any_work(tmp_path):
    with pytest.raises(common.UsageError, match="task 'clm' cannot train model 'bert_mini' of "
                       "family 'encoder'; it accepts families: decoder"):
        train(f"--model_dir={tmp_path}/x", "--model=bert_mini", "--task=clm")
    with pytest.raises(common.UsageError, match="accepts families: encoder_decoder"):
        train(f"--model_dir={tmp_path}/x", "--model=gpt_nano", "--task=translation")
    assert not os.path.exists(f"{tmp_path}/x")


def test_aligned_files_of_different_lengths_fail_naming_both(tmp_path):
    from zoo.data.formats.readers import DataError
    (tmp_path / "a.en").write_text("one\ntwo\nthree\n")
    (tmp_path / "a.de").write_text("eins\nzwei\n")
    with pytest.raises(DataError, match=f"^aligned files differ in line count: {tmp_path}/a.en "
                       f"has 3, {tmp_path}/a.de has 2$"):
        train(f"--model_dir={tmp_path}/x", "--model=t5_nano", "--task=translation",
              f"--train_data={tmp_path}/a.en,{tmp_path}/a.de")
