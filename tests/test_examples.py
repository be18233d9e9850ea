"""The SST-2 example's sentence recovery (examples/sst2/sentences.py)."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "sst2"))

from sentences import full_sentences, main  # noqa: E402


def test_keeps_only_texts_that_are_not_part_of_a_longer_one():
    phrases = ["the film is good", "is good", "good", "the film", "bad acting",
               "  bad acting ", "", "acting"]
    assert full_sentences(phrases) == ["the film is good", "bad acting"]


def test_a_phrase_spanning_two_sentences_is_kept():
    # "good bad" occurs in no single kept sentence, only across the boundary.
    assert full_sentences(["very good", "bad film", "good bad"]) == \
        ["very good", "bad film", "good bad"]


def test_main_reads_the_sentence_column_and_writes_one_per_line(tmp_path, capsys):
    tsv = tmp_path / "train.tsv"
    tsv.write_text("sentence\tlabel\nhide new secretions\t0\nnew secretions\t0\n"
                   "a gorgeous film\t1\n", encoding="utf-8")
    out = tmp_path / "sentences.txt"
    main(["sentences.py", str(tsv), str(out)])
    assert out.read_text(encoding="utf-8").splitlines() == \
        ["hide new secretions", "a gorgeous film"]
    assert "3 rows -> 2 sentences (6 words)" in capsys.readouterr().out


def test_pipeline_script_is_valid_bash():
    script = ROOT / "examples" / "sst2" / "pretrain_finetune.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
