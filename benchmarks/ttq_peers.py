"""The peer recipes of benchmarks/time_to_quality.py: keras-hub models trained with `fit`.

- translation: keras.io's "English-to-Spanish translation with KerasHub"
  (A. Sharma; examples/nlp/neural_machine_translation_with_keras_hub.py):
  one TransformerEncoder and one TransformerDecoder (256 wide, 2048 inner, 8
  heads), TokenAndPositionEmbedding, dropout 0.5 before a softmax Dense,
  WordPiece vocabularies learned per language, lowercased text, 40 tokens,
  batches of 64, rmsprop, greedy decoding with keras_hub.samplers.
- mlm: keras.io's "Pretraining a Transformer from scratch with KerasHub"
  (M. Watson; guides/keras_hub/transformer_pretraining.py): 3 TransformerEncoder
  layers 256 wide (512 inner, 4 heads, dropout 0.1), LayerNorm + dropout after
  the embedding, MaskedLMHead tied to the token embedding, 25% masking (32
  slots), batches of 128 lines longer than 100 characters, AdamW 5e-4,
  jit_compile=True.
- char: keras-hub's GPT2Backbone + GPT2CausalLM head on a UnicodeCodepointTokenizer
  at the zoo recipe's size and context, AdamW with the zoo's schedule.

Each trains until the wall-time budget (counted from the process launch, `t0`)
and saves its weights just before each time point; `build_*` rebuild the same
model for evaluation. Changes to the published recipes are marked CHANGE.

Example:
    >>> snaps = train_char(train_txt, workdir, config, t0, budget=600, points=10)
"""
import json
import os
import time

import zoo  # noqa: F401  (sets the Keras backend)
import keras
import keras_hub
import tensorflow as tf


class TimePointSnapshots(keras.callbacks.Callback):
    """Saves the model's weights at the last batch end before each time point
    (measured from t0) and stops training at the budget; `snapshots` (also in
    snapshots.json) lists {'time', 'path', 'step'}."""

    def __init__(self, workdir, t0, budget, points):
        super().__init__()
        self.workdir, self.t0, self.budget = workdir, t0, budget
        self.points = [budget * (k + 1) / points for k in range(points)]
        self.snapshots, self.step, self.last, self.step_time = [], 0, None, 0.0

    def on_train_batch_end(self, batch, logs=None):
        now = time.time() - self.t0
        self.step += 1
        if self.last is not None:
            self.step_time = now - self.last
        self.last = now
        if self.points and now + self.step_time > self.points[0]:
            path = os.path.join(self.workdir, f"snap-{len(self.snapshots)}.weights.h5")
            self.model.save_weights(path)
            self.snapshots.append({"time": now, "path": path, "step": self.step})
            with open(os.path.join(self.workdir, "snapshots.json"), "w") as handle:
                json.dump(self.snapshots, handle)  # (read if the process is stopped)
            while self.points and now + self.step_time > self.points[0]:
                self.points.pop(0)  # (points passed before the first step share it)
        if not self.points or now >= self.budget:
            self.model.stop_training = True


def _fit(model, dataset, workdir, t0, budget, points):
    snapshots = TimePointSnapshots(workdir, t0, budget, points)
    model.fit(dataset, epochs=1_000_000, verbose=0, callbacks=[snapshots])
    return snapshots.snapshots


# -- char LM ------------------------------------------------------------------

CHAR_VOCAB = 128  # codepoints below 128: tiny-shakespeare is ASCII


def build_char(config):
    """GPT2CausalLM over GPT2Backbone(**config), codepoint ids."""
    backbone = keras_hub.models.GPT2Backbone(**dict(config, vocabulary_size=CHAR_VOCAB))
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)


def char_ids(text):
    tokenizer = keras_hub.tokenizers.UnicodeCodepointTokenizer(vocabulary_size=CHAR_VOCAB)
    import numpy as np
    return np.asarray(tokenizer(tf.constant(text))).tolist()


def train_char(train_path, workdir, config, optimizer_config, t0, budget, points):
    """Windows of seq_len + 1 codepoints of the training text, shuffled, `fit`."""
    from zoo.train.optimizer import WarmupDecay
    with open(train_path, encoding="utf-8") as handle:
        ids = char_ids(handle.read())
    seq_len, batch = optimizer_config["seq_len"], optimizer_config["batch_size"]
    rows = [ids[i:i + seq_len + 1] for i in range(0, len(ids) - seq_len, seq_len)]
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(rows, tf.int32)) \
        .shuffle(len(rows), seed=0).repeat().batch(batch, drop_remainder=True) \
        .map(lambda w: ({"token_ids": w[:, :-1], "padding_mask": tf.ones_like(w[:, :-1])},
                        w[:, 1:])).prefetch(tf.data.AUTOTUNE)
    keras.utils.set_random_seed(0)
    model = build_char(config)
    # The zoo's optimizer settings (AdamW, warm-up and linear decay over the same
    # steps, weight decay 0.01 except LayerNorm and biases, clipping 1.0).
    optimizer = keras.optimizers.AdamW(
        learning_rate=WarmupDecay(optimizer_config["learning_rate"],
                                  optimizer_config["warmup_steps"],
                                  optimizer_config["train_steps"]),
        weight_decay=0.01, epsilon=1e-6, global_clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return _fit(model, dataset, workdir, t0, budget, points)


# -- MLM ------------------------------------------------------------------------

SEQ_LENGTH, MASK_RATE, PREDICTIONS_PER_SEQ = 128, 0.25, 32
NUM_LAYERS, MODEL_DIM, INTERMEDIATE_DIM, NUM_HEADS, DROPOUT, NORM_EPSILON = \
    3, 256, 512, 4, 0.1, 1e-5
PRETRAINING_BATCH_SIZE, PRETRAINING_LEARNING_RATE = 128, 5e-4


def mlm_tokenizer(vocab_file):
    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vocab_file, sequence_length=SEQ_LENGTH, lowercase=True, strip_accents=True)


def build_mlm(vocabulary_size):
    """The guide's encoder + MaskedLMHead pretraining model (softmax outputs)."""
    inputs = keras.Input(shape=(SEQ_LENGTH,), dtype="int32")
    embedding_layer = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary_size=vocabulary_size, sequence_length=SEQ_LENGTH, embedding_dim=MODEL_DIM)
    outputs = embedding_layer(inputs)
    outputs = keras.layers.LayerNormalization(epsilon=NORM_EPSILON)(outputs)
    outputs = keras.layers.Dropout(rate=DROPOUT)(outputs)
    for _ in range(NUM_LAYERS):
        outputs = keras_hub.layers.TransformerEncoder(
            intermediate_dim=INTERMEDIATE_DIM, num_heads=NUM_HEADS, dropout=DROPOUT,
            layer_norm_epsilon=NORM_EPSILON)(outputs)
    encoder_model = keras.Model(inputs, outputs)
    inputs = {"token_ids": keras.Input(shape=(SEQ_LENGTH,), dtype="int32", name="token_ids"),
              "mask_positions": keras.Input(shape=(PREDICTIONS_PER_SEQ,), dtype="int32",
                                            name="mask_positions")}
    encoded_tokens = encoder_model(inputs["token_ids"])
    outputs = keras_hub.layers.MaskedLMHead(
        token_embedding=embedding_layer.token_embedding, activation="softmax",
    )(encoded_tokens, mask_positions=inputs["mask_positions"])
    return keras.Model(inputs, outputs)


def train_mlm(train_path, vocab_file, workdir, t0, budget, points):
    """The guide's pretraining; CHANGE: the IMDB reviews (train.txt) instead of
    WikiText-103, and the zoo's WordPiece vocab.txt learned from them (shared by
    both sides) instead of the downloaded BERT uncased vocabulary; no
    validation_data (evaluation is the benchmark's, off the clock); epochs run
    until the budget."""
    tokenizer = mlm_tokenizer(vocab_file)
    masker = keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=tokenizer.vocabulary_size(), mask_selection_rate=MASK_RATE,
        mask_selection_length=PREDICTIONS_PER_SEQ, mask_token_id=tokenizer.token_to_id("[MASK]"))

    def preprocess(inputs):
        outputs = masker(tokenizer(inputs))
        features = {"token_ids": outputs["token_ids"],
                    "mask_positions": outputs["mask_positions"]}
        return features, outputs["mask_ids"], outputs["mask_weights"]

    train_ds = tf.data.TextLineDataset(train_path) \
        .filter(lambda x: tf.strings.length(x) > 100).batch(PRETRAINING_BATCH_SIZE)
    pretrain_ds = train_ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE) \
        .prefetch(tf.data.AUTOTUNE)
    keras.utils.set_random_seed(0)
    model = build_mlm(tokenizer.vocabulary_size())
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=keras.optimizers.AdamW(PRETRAINING_LEARNING_RATE),
                  weighted_metrics=["sparse_categorical_accuracy"], jit_compile=True)
    return _fit(model, pretrain_ds, workdir, t0, budget, points)


# -- translation ----------------------------------------------------------------

BATCH_SIZE, MAX_SEQUENCE_LENGTH = 64, 40
# CHANGE: 8,000 WordPieces per language (the recipe: 15,000): Multi30k's 29,000
# training pairs are a sixth of the Anki set's, and the zoo's joint BPE has 8,000.
ENG_VOCAB_SIZE = SPA_VOCAB_SIZE = 8000
EMBED_DIM, INTERMEDIATE_DIM_MT, NUM_HEADS_MT = 256, 2048, 8
RESERVED = ["[PAD]", "[UNK]", "[START]", "[END]"]


def read_pairs(data_dir, split):
    """(english, german) pairs, lowercased as the recipe does. CHANGE: Multi30k's
    line-aligned {split}.en / {split}.de instead of the Anki spa.txt (German takes
    Spanish's place), and its own train/val split instead of a random 70/15/15."""
    with open(os.path.join(data_dir, f"{split}.en"), encoding="utf-8") as en, \
            open(os.path.join(data_dir, f"{split}.de"), encoding="utf-8") as de:
        return [(e.rstrip("\n").lower(), d.rstrip("\n").lower()) for e, d in zip(en, de)]


def translation_tokenizers(eng_vocab, spa_vocab):
    return (keras_hub.tokenizers.WordPieceTokenizer(vocabulary=eng_vocab, lowercase=False),
            keras_hub.tokenizers.WordPieceTokenizer(vocabulary=spa_vocab, lowercase=False))


def build_translation(eng_vocab_size=ENG_VOCAB_SIZE, spa_vocab_size=SPA_VOCAB_SIZE):
    """The recipe's encoder-decoder Transformer (softmax outputs)."""
    encoder_inputs = keras.Input(shape=(None,), name="encoder_inputs")
    x = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary_size=eng_vocab_size, sequence_length=MAX_SEQUENCE_LENGTH,
        embedding_dim=EMBED_DIM)(encoder_inputs)
    encoder_outputs = keras_hub.layers.TransformerEncoder(
        intermediate_dim=INTERMEDIATE_DIM_MT, num_heads=NUM_HEADS_MT)(inputs=x)
    decoder_inputs = keras.Input(shape=(None,), name="decoder_inputs")
    encoded_seq_inputs = keras.Input(shape=(None, EMBED_DIM), name="decoder_state_inputs")
    x = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary_size=spa_vocab_size, sequence_length=MAX_SEQUENCE_LENGTH,
        embedding_dim=EMBED_DIM)(decoder_inputs)
    x = keras_hub.layers.TransformerDecoder(
        intermediate_dim=INTERMEDIATE_DIM_MT, num_heads=NUM_HEADS_MT)(
        decoder_sequence=x, encoder_sequence=encoded_seq_inputs)
    x = keras.layers.Dropout(0.5)(x)
    decoder_outputs = keras.layers.Dense(spa_vocab_size, activation="softmax")(x)
    decoder = keras.Model([decoder_inputs, encoded_seq_inputs], decoder_outputs)
    decoder_outputs = decoder([decoder_inputs, encoder_outputs])
    return keras.Model([encoder_inputs, decoder_inputs], decoder_outputs, name="transformer")


def train_translation(data_dir, workdir, t0, budget, points):
    """The recipe, vocabularies learned inside the clock; CHANGE: no
    validation_data (evaluation is the benchmark's, off the clock); epochs run
    until the budget. Writes vocab.json for evaluation."""
    train_pairs = read_pairs(data_dir, "train")

    def train_word_piece(text_samples, vocab_size):
        word_piece_ds = tf.data.Dataset.from_tensor_slices(text_samples)
        return keras_hub.tokenizers.compute_word_piece_vocabulary(
            word_piece_ds.batch(1000).prefetch(2), vocabulary_size=vocab_size,
            reserved_tokens=RESERVED)
    eng_vocab = train_word_piece([p[0] for p in train_pairs], ENG_VOCAB_SIZE)
    spa_vocab = train_word_piece([p[1] for p in train_pairs], SPA_VOCAB_SIZE)
    with open(os.path.join(workdir, "vocab.json"), "w", encoding="utf-8") as handle:
        json.dump({"eng": eng_vocab, "spa": spa_vocab}, handle)
    eng_tokenizer, spa_tokenizer = translation_tokenizers(eng_vocab, spa_vocab)

    def preprocess_batch(eng, spa):
        eng = keras_hub.layers.StartEndPacker(
            sequence_length=MAX_SEQUENCE_LENGTH,
            pad_value=eng_tokenizer.token_to_id("[PAD]"))(eng_tokenizer(eng))
        spa = keras_hub.layers.StartEndPacker(
            sequence_length=MAX_SEQUENCE_LENGTH + 1,
            start_value=spa_tokenizer.token_to_id("[START]"),
            end_value=spa_tokenizer.token_to_id("[END]"),
            pad_value=spa_tokenizer.token_to_id("[PAD]"))(spa_tokenizer(spa))
        return {"encoder_inputs": eng, "decoder_inputs": spa[:, :-1]}, spa[:, 1:]

    eng_texts, spa_texts = zip(*train_pairs)
    dataset = tf.data.Dataset.from_tensor_slices((list(eng_texts), list(spa_texts)))
    dataset = dataset.batch(BATCH_SIZE).map(preprocess_batch,
                                            num_parallel_calls=tf.data.AUTOTUNE)
    train_ds = dataset.shuffle(2048).prefetch(16).cache()
    model = build_translation(len(eng_vocab), len(spa_vocab))
    model.compile("rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return _fit(model, train_ds, workdir, t0, budget, points)


def translate(model, eng_tokenizer, spa_tokenizer, sentences):
    """The recipe's decode_sequences (GreedySampler over the full-prompt model);
    CHANGE: on a batch of sentences instead of one at a time (same tokens)."""
    from keras import ops
    import numpy as np
    tokens = np.zeros([len(sentences), MAX_SEQUENCE_LENGTH], np.int32)  # [PAD] is 0
    for i, row in enumerate(eng_tokenizer(tf.constant([s.lower() for s in sentences]))):
        row = list(row)[:MAX_SEQUENCE_LENGTH]
        tokens[i, :len(row)] = row
    encoder_input_tokens = ops.convert_to_tensor(tokens)

    def next(prompt, cache, index):  # pylint: disable=redefined-builtin
        logits = model([encoder_input_tokens, prompt])[:, index - 1, :]
        return logits, None, cache

    batch_size, length = len(sentences), 40
    # CHANGE: int32 prompts (ops.full's default float32 ids fail keras-hub 0.32's
    # detokenize).
    start = ops.full((batch_size, 1), spa_tokenizer.token_to_id("[START]"), dtype="int32")
    pad = ops.full((batch_size, length - 1), spa_tokenizer.token_to_id("[PAD]"), dtype="int32")
    prompt = ops.concatenate((start, pad), axis=-1)
    generated = keras_hub.samplers.GreedySampler()(
        next, prompt, stop_token_ids=[spa_tokenizer.token_to_id("[END]")], index=1)
    out = spa_tokenizer.detokenize(generated)
    out = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
    return [(t.decode("utf-8") if isinstance(t, bytes) else str(t)).replace("[PAD]", "")
            .replace("[START]", "").replace("[END]", "").strip() for t in out]
