"""Scores the snapshots of both sides of a time_to_quality pair on the same held-out data.

Each side's model is rebuilt once (the zoo's from its model_dir, the peer's
from ttq_peers) and every chosen snapshot is restored into it and scored by
ttq_data's metric code: next-char loss, masked-token accuracy (one masking of
the held-out reviews, shared by both sides) or sacrebleu BLEU of greedy
translations. Runs in its own process, after training: evaluation is off the
clock.

Example:
    >>> scores = evaluate_pair("char", {"zoo": [...], "peer": [...]}, pairdir, settings)
"""
import json
import os

import zoo  # noqa: F401  (sets the Keras backend)
import numpy as np
import tensorflow as tf

import ttq_data
import ttq_peers


def _zoo_run(model_dir):
    from plugins.discovery import load_plugins
    from zoo.assembly import assemble
    from zoo.run_config import load_run_config
    load_plugins()
    return assemble(load_run_config(model_dir), model_dir)


def _restore_zoo(run, path):
    tf.train.Checkpoint(model=run.model).restore(path).expect_partial()


def _score(snapshots, restore, metric):
    """[(time, metric, step)] of the snapshots, restoring each first."""
    scored = []
    for snap in snapshots:
        restore(snap["path"])
        scored.append((snap["time"], metric(), snap.get("step")))
    return scored


def _char(snapshots, pairdir, settings):
    with open(os.path.join(pairdir, "val.txt"), encoding="utf-8") as handle:
        text = handle.read()
    width, limit = settings["seq_len"] + 1, settings["eval_limit"]
    result = {}
    if snapshots["zoo"]:
        run = _zoo_run(os.path.join(pairdir, "zoo"))
        ids = []  # paragraphs each followed by [EOS], as zoo-train --text_mode=paragraph
        for row in run.encoder.tokenize(tf.constant(ttq_data.paragraphs(text))).to_list():
            ids += row + [run.encoder.eos_id]
        rows = ttq_data.windows(ids, width, limit)

        def zoo_log_probs(x):
            logits = run.model({"token_ids": x, "padding_mask": np.ones_like(x)},
                               training=False)
            return tf.nn.log_softmax(tf.cast(logits, tf.float32)).numpy()
        result["zoo"] = _score(snapshots["zoo"], lambda p: _restore_zoo(run, p),
                               lambda: ttq_data.next_token_nll(zoo_log_probs, rows))
    if snapshots["peer"]:
        model = ttq_peers.build_char(settings["model_config"])
        rows = ttq_data.windows(ttq_peers.char_ids(text), width, limit)

        def peer_log_probs(x):
            logits = model({"token_ids": x, "padding_mask": np.ones_like(x)}, training=False)
            return tf.nn.log_softmax(tf.cast(logits, tf.float32)).numpy()
        result["peer"] = _score(snapshots["peer"], model.load_weights,
                                lambda: ttq_data.next_token_nll(peer_log_probs, rows))
    return result


def mlm_eval_set(heldout_path, vocab_file, limit=0, seed=0):
    """The held-out reviews, tokenized with the shared vocabulary, cut to 126
    tokens and masked once (15% of each review's tokens, at least 1 and at most
    32; of those 80% [MASK], 10% a random id, 10% kept), drawn with numpy from
    `seed` so that every scoring process masks the same tokens:
    {'content' [n, 128], 'lengths', 'positions', 'labels', 'weights'}."""
    with open(heldout_path, encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in handle if line.strip()]
    lines = lines[:limit] if limit else lines
    tokenizer = ttq_peers.mlm_tokenizer(vocab_file)
    tokenizer.sequence_length = None
    rows = [list(row)[:ttq_peers.SEQ_LENGTH - 2] for row in tokenizer(tf.constant(lines))]
    slots, vocab_size = ttq_peers.PREDICTIONS_PER_SEQ, tokenizer.vocabulary_size()
    content = np.zeros([len(rows), ttq_peers.SEQ_LENGTH], np.int32)
    positions = np.zeros([len(rows), slots], np.int32)
    labels = np.zeros([len(rows), slots], np.int32)
    weights = np.zeros([len(rows), slots], np.float32)
    rng = np.random.RandomState(seed)
    for i, row in enumerate(rows):
        content[i, :len(row)] = row
        count = min(slots, max(1, round(0.15 * len(row))))
        chosen = np.sort(rng.choice(len(row), count, replace=False))
        positions[i, :count], labels[i, :count], weights[i, :count] = chosen, content[i, chosen], 1
        draw = rng.uniform(size=count)
        content[i, chosen] = np.where(draw < 0.8, tokenizer.token_to_id("[MASK]"), np.where(
            draw < 0.9, rng.randint(0, vocab_size, size=count), content[i, chosen]))
    return {"content": content, "lengths": np.array([len(r) for r in rows]),
            "positions": positions, "labels": labels, "weights": weights,
            "cls": tokenizer.token_to_id("[CLS]"), "sep": tokenizer.token_to_id("[SEP]")}


def _zoo_mlm_features(data):
    """The same masked tokens as `[CLS] tokens [SEP]` rows, positions shifted by one."""
    content, lengths = data["content"], data["lengths"]
    rows = np.zeros_like(content)
    for i, length in enumerate(lengths):
        rows[i, 0], rows[i, 1:length + 1], rows[i, length + 1] = \
            data["cls"], content[i, :length], data["sep"]
    mask = (np.arange(rows.shape[1])[None, :] < (lengths[:, None] + 2)).astype(np.int32)
    return {"token_ids": rows, "segment_ids": np.zeros_like(rows), "padding_mask": mask,
            "mask_positions": data["positions"] + 1}


def _batched(model, features, batch_size=64):
    count = len(next(iter(features.values())))
    return np.concatenate([
        np.asarray(model({k: v[i:i + batch_size] for k, v in features.items()},
                         training=False)) for i in range(0, count, batch_size)])


def _mlm(snapshots, pairdir, settings):
    vocab = os.path.join(pairdir, "vocab.txt")
    data = mlm_eval_set(os.path.join(pairdir, "heldout.txt"), vocab, settings["eval_limit"])

    def accuracy(model, features):
        return lambda: ttq_data.masked_accuracy(_batched(model, features), data["labels"],
                                                data["weights"])
    result = {}
    if snapshots["zoo"]:
        run = _zoo_run(os.path.join(pairdir, "zoo"))
        result["zoo"] = _score(snapshots["zoo"], lambda p: _restore_zoo(run, p),
                               accuracy(run.model, _zoo_mlm_features(data)))
    if snapshots["peer"]:
        with open(vocab, encoding="utf-8") as handle:
            size = sum(1 for line in handle if line.strip())
        model = ttq_peers.build_mlm(size)
        features = {"token_ids": data["content"], "mask_positions": data["positions"]}
        result["peer"] = _score(snapshots["peer"], model.load_weights,
                                accuracy(model, features))
    return result


def _translation(snapshots, pairdir, settings):
    data_dir = os.path.join(settings["data_dir"], "multi30k_en_de")
    limit = settings["eval_limit"]
    sources, references = ([line.rstrip("\n") for line in open(
        os.path.join(data_dir, f"val.{lang}"), encoding="utf-8")] for lang in ("en", "de"))
    if limit:
        sources, references = sources[:limit], references[:limit]
    batches = [sources[i:i + 128] for i in range(0, len(sources), 128)]
    result = {}
    if snapshots["zoo"]:
        run = _zoo_run(os.path.join(pairdir, "zoo"))
        decode = tf.function(lambda texts: run.task.decode(run.model, texts)[0])

        def zoo_bleu():
            hypotheses = [s.decode("utf-8") for b in batches
                          for s in decode(tf.constant(b)).numpy()]
            return ttq_data.bleu(hypotheses, references)
        result["zoo"] = _score(snapshots["zoo"], lambda p: _restore_zoo(run, p), zoo_bleu)
    if snapshots["peer"]:
        with open(os.path.join(pairdir, "peer", "vocab.json"), encoding="utf-8") as handle:
            vocab = json.load(handle)
        model = ttq_peers.build_translation(len(vocab["eng"]), len(vocab["spa"]))
        eng, spa = ttq_peers.translation_tokenizers(vocab["eng"], vocab["spa"])

        def peer_bleu():
            hypotheses = [h for b in batches for h in ttq_peers.translate(model, eng, spa, b)]
            return ttq_data.bleu(hypotheses, references)
        result["peer"] = _score(snapshots["peer"], model.load_weights, peer_bleu)
    return result


def evaluate_pair(pair, snapshots, pairdir, settings):
    """{'zoo': [(time, metric, step)], 'peer': [...]} of the given snapshots."""
    return {"char": _char, "mlm": _mlm, "translation": _translation}[pair](
        snapshots, pairdir, settings)
