"""GPT/T5 building blocks: causal masking, packing, span corruption, decoding, BLEU,
tokenizer kinds. No training here (see test_generative_training.py)."""
import dataclasses

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from plugins import MODELS, load_plugins
from tasks.span_corruption import corrupt, raw_length, span_counts
from zoo.evaluate.corpus_metrics import corpus_bleu
from zoo.data.tokenizers.chars import ByteEncoder, CharEncoder, train_char_vocab
from zoo.data.tokenizers.encoders import extra_tokens, load_encoder, train_tokenizer
from zoo.data.pipeline.packing import pack_documents
from zoo.serve.generation import BeamSearch
from zoo.models.gpt import causal_lm
from zoo.models.t5 import seq2seq_lm

load_plugins([])
TEXTS = ["First Citizen:\nBefore we proceed any further, hear me speak.",
         "All:\nSpeak, speak.", "Résumé — naïve café ☕"]


def gpt_nano(vocab=40, seed=1):
    keras.utils.set_random_seed(seed)
    spec = MODELS.get("gpt_nano")
    return causal_lm(spec.builder(dataclasses.replace(spec.config, vocabulary_size=vocab,
                                                      dropout=0.0)))


def test_causal_lm_does_not_see_the_future():
    lm = gpt_nano()
    ids = np.random.RandomState(0).randint(5, 40, size=(2, 12)).astype("int32")
    changed = ids.copy()
    changed[:, 7] = (changed[:, 7] + 1 - 5) % 35 + 5
    mask = np.ones_like(ids)
    before = lm({"token_ids": ids, "padding_mask": mask}).numpy()
    after = lm({"token_ids": changed, "padding_mask": mask}).numpy()
    np.testing.assert_allclose(before[:, :7], after[:, :7], rtol=1e-5, atol=1e-6)
    assert np.abs(before[:, 7:] - after[:, 7:]).max() > 1e-4


def test_packing_concatenates_documents_with_eos_and_wastes_nothing(tmp_path):
    train_char_vocab(TEXTS, 200, str(tmp_path / "chars.json"))
    encoder = CharEncoder(str(tmp_path / "chars.json"), seq_len=16)
    examples = tf.data.Dataset.from_tensor_slices({"text": TEXTS * 3})
    rows = np.stack(list(pack_documents(examples, encoder, 10, docs_per_chunk=2)
                         .as_numpy_iterator()))
    stream = []
    for text in TEXTS * 3:
        stream += encoder.tokenize(tf.constant([text]))[0].numpy().tolist() + [encoder.eos_id]
    full = len(stream) // 10 * 10
    assert rows.shape == (full // 10, 10)
    assert rows.reshape(-1).tolist() == stream[:full]
    assert encoder.pad_id not in rows


def test_span_corruption_statistics_and_reconstruction():
    length, sentinels = 114, list(range(1000, 1100))
    rows = tf.constant(np.random.RandomState(0).randint(5, 900, size=(64, length)), tf.int32)
    inputs, targets = corrupt(rows, sentinels, 0.15, 3.0, tf.constant([1, 2], tf.int64))
    noise, spans = span_counts(length, 0.15, 3.0)
    assert (noise, spans) == (17, 6)
    assert set(inputs.row_lengths().numpy()) == {length - noise + spans}
    assert set(targets.row_lengths().numpy()) == {noise + spans}
    for row, source, target in zip(rows.numpy(), inputs.numpy(), targets.numpy()):
        # Sentinels appear in order in both; filling them back restores the row.
        assert [t for t in source if t >= 1000] == sentinels[:spans]
        assert [t for t in target if t >= 1000] == sentinels[:spans]
        pieces, current = {}, None
        for token in target:
            if token >= 1000:
                current = token
                pieces[current] = []
            else:
                pieces[current].append(token)
        restored = [t for token in source for t in (pieces[token] if token >= 1000 else [token])]
        assert restored == row.tolist()
        assert all(pieces[s] for s in sentinels[:spans])  # no empty span
    # Different seeds hide different spans.
    other, _ = corrupt(rows, sentinels, 0.15, 3.0, tf.constant([1, 3], tf.int64))
    assert not np.array_equal(inputs.to_tensor().numpy(), other.to_tensor().numpy())


def test_raw_length_fills_the_encoder_input():
    for seq_len in (32, 64, 512):
        length = raw_length(seq_len, 0.15, 3.0)
        noise, spans = span_counts(length, 0.15, 3.0)
        assert length - noise + spans + 1 <= seq_len
        noise, spans = span_counts(length + 1, 0.15, 3.0)
        assert length + 1 - noise + spans + 1 > seq_len


def uncached_greedy(lm, ids, prompt_length, steps):
    """Reference decoding: the whole sequence through the model at every step."""
    ids = ids.copy()
    for index in range(prompt_length, prompt_length + steps):
        logits = lm({"token_ids": ids, "padding_mask": np.ones_like(ids)}).numpy()
        ids[:, index] = logits[:, index - 1].argmax(-1)
    return ids


def cached(lm, ids, prompt_length, sampler):
    lm.sampler = sampler
    mask = np.zeros_like(ids, dtype=bool)
    mask[:, :prompt_length] = True
    return lm.generate_step({"token_ids": tf.constant(ids), "padding_mask": tf.constant(mask)},
                            stop_token_ids=None)["token_ids"].numpy()


def test_kv_cached_decoding_equals_uncached_and_beam_one_equals_greedy():
    lm = gpt_nano()
    ids = np.zeros((3, 14), "int32")
    ids[:, :4] = np.random.RandomState(2).randint(5, 40, size=(3, 4))
    expected = uncached_greedy(lm, ids, 4, 10)
    np.testing.assert_array_equal(cached(lm, ids, 4, keras_hub.samplers.GreedySampler()),
                                  expected)
    np.testing.assert_array_equal(cached(lm, ids, 4, BeamSearch(num_beams=1)), expected)


def test_beam_search_finds_a_sequence_at_least_as_likely_as_greedy():
    lm = gpt_nano(seed=4)
    ids = np.zeros((4, 10), "int32")
    ids[:, :2] = np.random.RandomState(3).randint(5, 40, size=(4, 2))

    def log_likelihood(sequence):
        logits = lm({"token_ids": sequence, "padding_mask": np.ones_like(sequence)}).numpy()
        logp = tf.nn.log_softmax(logits).numpy()
        return np.array([sum(logp[r, i - 1, sequence[r, i]] for i in range(2, 10))
                         for r in range(len(sequence))])
    greedy = cached(lm, ids, 2, keras_hub.samplers.GreedySampler())
    beam = cached(lm, ids, 2, BeamSearch(num_beams=4, length_penalty=0.0))
    assert np.all(log_likelihood(beam) >= log_likelihood(greedy) - 1e-4)


def test_t5_cached_decoding_equals_uncached():
    keras.utils.set_random_seed(0)
    spec = MODELS.get("t5_nano")
    lm = seq2seq_lm(spec.builder(dataclasses.replace(spec.config, vocabulary_size=30,
                                                     dropout=0.0)))
    source = np.random.RandomState(0).randint(4, 30, size=(2, 7)).astype("int32")
    decoder = np.zeros((2, 8), "int32")
    decoder[:, 0] = 2
    reference = decoder.copy()
    for index in range(1, 8):
        logits = lm({"encoder_token_ids": source, "encoder_padding_mask": np.ones_like(source),
                     "decoder_token_ids": reference,
                     "decoder_padding_mask": np.ones_like(reference)}).numpy()
        reference[:, index] = logits[:, index - 1].argmax(-1)
    lm.sampler = keras_hub.samplers.GreedySampler()
    mask = np.zeros_like(decoder, dtype=bool)
    mask[:, 0] = True
    out = lm.generate_step({"encoder_token_ids": source,
                            "encoder_padding_mask": np.ones_like(source),
                            "decoder_token_ids": decoder, "decoder_padding_mask": mask})
    np.testing.assert_array_equal(out["decoder_token_ids"].numpy(), reference)


def test_bleu_is_sacrebleus_corpus_bleu():
    import sacrebleu
    hypotheses = ["The cat sat on the mat.", "A dog runs in the park!", "Hello"]
    references = ["The cat is on the mat.", "A dog is running in the park!", "Hello there"]
    expected = sacrebleu.corpus_bleu(hypotheses, [references], tokenize="13a").score
    assert corpus_bleu(hypotheses, references) == pytest.approx(expected)
    assert corpus_bleu(references, references) == pytest.approx(100.0)
    # Papineni et al.'s n-gram counts for one pair, by hand: p1..p4 = 5/6, 3/5, 1/4, 0/3
    # with exp smoothing of the zero count (1/2 / 3), brevity penalty 1.
    hand = 100 * np.exp(np.mean(np.log([5 / 6, 3 / 5, 1 / 4, 1 / 2 / 3])))
    assert corpus_bleu(["the cat sat on the mat"], ["the cat is on the mat"]) == \
        pytest.approx(hand, rel=1e-6)


@pytest.mark.parametrize("kind", ["char", "byte", "sentencepiece_bpe", "sentencepiece_unigram",
                                  "wordpiece"])
def test_tokenizer_kinds_round_trip_and_carry_sentinels(kind, tmp_path):
    texts = tf.data.Dataset.from_tensor_slices(TEXTS * 20)
    path = str(tmp_path / {"char": "chars.json", "byte": "", "wordpiece": "vocab.txt"}.get(
        kind, "spm.model"))
    if kind != "byte":
        train_tokenizer(kind, texts, 300, path, lowercase=False, family="encoder_decoder")
    encoder = load_encoder(kind, path, 64, lowercase=False, family="encoder_decoder")
    assert len(encoder.sentinel_ids) == len(extra_tokens("encoder_decoder")) == 100
    ids = encoder.tokenize(tf.constant(TEXTS))
    decoded = [s.decode("utf-8") for s in encoder.detokenize(ids).numpy()]
    if kind in ("char", "byte"):
        assert decoded == TEXTS
    elif kind.startswith("sentencepiece"):  # newlines become spaces
        assert decoded == [t.replace("\n", " ") for t in TEXTS]
    else:  # WordPiece splits punctuation off
        assert decoded[1] == "All : Speak , speak ."
    # Sentinels and special tokens are not text.
    sentinel = tf.ragged.constant([[encoder.sentinel_ids[0]] + ids[1].numpy().tolist()])
    assert encoder.detokenize(sentinel).numpy()[0].decode() == decoded[1]


def test_char_encoder_maps_unseen_characters_to_unk(tmp_path):
    train_char_vocab(["abc"], 50, str(tmp_path / "c.json"))
    encoder = CharEncoder(str(tmp_path / "c.json"), seq_len=8)
    assert encoder.tokenize(tf.constant(["ab☕"]))[0].numpy().tolist()[2] == encoder.unk_id
    assert ByteEncoder(8).tokenize(tf.constant(["é"]))[0].numpy().tolist() == [5 + 0xC3,
                                                                                5 + 0xA9]


# A Markov chain over 4 tokens (0 is the stop token): row t is P(next | last token t).
CHAIN = np.array([[0.97, 0.01, 0.01, 0.01],
                  [0.30, 0.35, 0.25, 0.10],
                  [0.90, 0.04, 0.03, 0.03],
                  [0.10, 0.50, 0.399, 0.001]], "float32")


def chain_next(prompt, cache, index):
    return tf.math.log(tf.gather(CHAIN, prompt[:, index - 1])), None, cache


@pytest.mark.parametrize("beams, alpha, expected", [
    # Greedy takes 3 1 1 1 (p = .5 * .35 * .35 = .061). Two beams keep 3 1 and 3 2
    # after one step; 3 2 then stops (p = .399 * .9 = .359), which no longer beam
    # beats: the finished beam repeats its stop token to the end.
    (2, 0.0, [3, 2, 0, 0]),
    (3, 0.0, [3, 2, 0, 0]),
    # A length penalty ((5 + n) / 6) ** 10 favours the longer sequence: 3 2 0 scores
    # log(.359) / 4.67 = -0.219, 3 1 1 1 log(.061) / 17.76 = -0.157 (3 1 2 0, p .125 *
    # .9, would score -0.123, but the beams dropped 3 1 2 at its second step).
    (2, 10.0, [3, 1, 1, 1]),
    (3, 10.0, [3, 1, 1, 1]),
])
def test_beam_search_on_a_hand_computed_chain(beams, alpha, expected):
    prompt = tf.constant([[3, 0, 0, 0]], tf.int32)
    mask = tf.constant([[True, False, False, False]])
    out = BeamSearch(beams, alpha)(chain_next, prompt, None, 1, mask, stop_token_ids=[0])
    assert out.numpy().tolist() == [expected]
