"""Vocabulary training that scales: a sample (--vocab_sample) that is a function of
the seed, near its budget, everything with 0, with progress lines; bad sizes are
usage errors in zoo-vocab and zoo-train; every learner takes the sample and gives
the same bytes for the same seed."""
import gzip
import random
import string

import pytest
from absl import flags

from zoo.cli import vocab as vocab_cli
from zoo.cli.common import UsageError
from zoo.data.tokenizers import vocab_sample as sampling
from zoo.data.builtin import generate_lines
from zoo.data.formats.readers import DataError
from zoo.data.tokenizers.vocab_sample import estimated_bytes, parse_size, sample_texts
from zoo.train.checks import validate_options
from zoo.train.options import default_options

#: Lines of the test corpus; each is about 100 bytes, so the file is about 0.3 MB.
LINES = 3000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(7)
    lines = [" ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 8)))
                      for _ in range(rng.randint(12, 22))) for _ in range(LINES)]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path), lines, path.stat().st_size


def sample(path, budget, seed=0):
    return list(sample_texts([path], budget=budget, seed=seed))


def vocab_flags(*args):
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS(["zoo-vocab", *args])
        vocab_cli.main(["zoo-vocab"])
    finally:
        flags.FLAGS.unparse_flags()


@pytest.mark.parametrize("text, size", [("100M", 10 ** 8), ("1.5G", 15 * 10 ** 8), ("512k", 512000),
                                        ("2GB", 2 * 10 ** 9), ("0", 0), (" 7 ", 7), (4096, 4096)])
def test_sizes_take_decimal_suffixes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "-1", "10X", "", "1e6", "M"])
def test_a_bad_size_says_what_is_accepted(text):
    with pytest.raises(ValueError, match=f"^'{text}' is not a size in bytes: give a number "
                                         "with an optional K, M or G suffix"):
        parse_size(text)


def test_the_sample_is_a_function_of_the_seed_and_near_its_budget(corpus):
    path, lines, total = corpus
    assert estimated_bytes(path) == total == sum(len(line) + 1 for line in lines)
    first = sample(path, total // 4)
    assert first == sample(path, total // 4) and first != sample(path, total // 4, seed=1)
    assert set(first) < set(lines)
    assert sum(len(text) + 1 for text in first) == pytest.approx(total / 4, rel=0.1)
    assert [line for line in lines if line in set(first)] == first  # in file order


def test_zero_or_a_budget_above_the_size_reads_everything(corpus, capsys):
    path, lines, _ = corpus
    assert sample(path, 0) == lines == sample(path, parse_size("1G"))
    out = capsys.readouterr().out
    assert f"vocab sample: kept 0.3 MB in {LINES:,} of {LINES:,} examples (everything" in out


def test_progress_lines_while_reading(corpus, capsys, monkeypatch):
    monkeypatch.setattr(sampling, "PROGRESS_SECONDS", 0.0)
    sample(corpus[0], corpus[2] // 3, seed=3)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("vocab sample: read 0.0 MB of ~0.3 MB (0%), kept 0.0 MB in 0 ")
    assert len(out) == LINES + 1 and "(100%)" in out[-2]
    assert out[-1].startswith("vocab sample: kept 0.1 MB in ")
    assert out[-1].endswith(f" of {LINES:,} examples (p=0.333 of ~0.3 MB, seed 3)")


def test_gzipped_files_are_sized_by_their_compression_ratio(corpus, tmp_path, monkeypatch):
    path, lines, total = corpus
    packed = tmp_path / "corpus.txt.gz"
    with gzip.open(packed, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    assert packed.stat().st_size < 0.7 * total
    assert estimated_bytes(str(packed)) == total  # the whole file fits the probe
    monkeypatch.setattr(sampling, "GZIP_PROBE", 20000)
    assert estimated_bytes(str(packed)) == pytest.approx(total, rel=0.03)
    assert sample(str(packed), 50000, seed=2) == sample(path, 50000, seed=2)


def test_a_budget_too_small_for_one_example_fails(corpus):
    with pytest.raises(DataError, match="the vocab sample of 1 bytes of ~0.3 MB kept no "
                                        "example: raise --vocab_sample"):
        sample(corpus[0], 1)


@pytest.mark.parametrize("kind", ["wordpiece", "sentencepiece_unigram", "sentencepiece_bpe",
                                  "char"])
def test_zoo_vocab_trains_each_kind_from_the_seeds_sample(corpus, tmp_path, kind, capsys):
    outputs = []
    for seed in (5, 5):
        output = tmp_path / f"{len(outputs)}.vocab"
        vocab_flags(f"--train_data={corpus[0]}", f"--type={kind}", "--vocab_size=120",
                    f"--vocab_sample={corpus[2] // 5}", f"--seed={seed}", f"--output={output}")
        outputs.append(output.read_bytes())
    assert outputs[0] == outputs[1]
    assert "(p=0.2 of ~0.3 MB, seed 5)" in capsys.readouterr().out


def test_a_bad_vocab_sample_is_a_usage_error(corpus):
    with pytest.raises(UsageError, match="^--vocab_sample: 'big' is not a size in bytes"):
        vocab_flags(f"--train_data={corpus[0]}", "--vocab_sample=big")
    with pytest.raises(UsageError, match="^--vocab_sample: '5MiB' is not a size in bytes"):
        validate_options(default_options(vocab_sample="5MiB"))


def test_zoo_train_trains_its_vocab_from_the_sample_of_its_seed(corpus, tmp_path, capsys,
                                                                monkeypatch):
    import zoo.train.job as job
    from flagrun import train

    def stop(*_):
        raise RuntimeError("stop after the vocab")
    monkeypatch.setattr(job, "check_resume", stop)
    vocabs = []
    for run in ("a", "b"):
        with pytest.raises(RuntimeError, match="stop after the vocab"):
            train("--model=bert_nano", f"--train_data={corpus[0]}", "--vocab_size=150",
                  f"--vocab_sample={corpus[2] // 4}", "--seed=3", f"--model_dir={tmp_path / run}")
        vocabs.append((tmp_path / run / "vocab.txt").read_bytes())
    assert vocabs[0] == vocabs[1]
    assert "(p=0.25 of ~0.3 MB, seed 3)" in capsys.readouterr().out
