"""Decoding for GPT and T5 models: sampler choice, beam search with a length
penalty, and extraction of the generated tokens.

Greedy, top-k and top-p (with temperature) are keras-hub's samplers; beam
search is `BeamSearch` below, a keras-hub `Sampler` that freezes finished
hypotheses and ranks by GNMT's length-normalised score
`log p / ((5 + n) / 6) ** length_penalty` (Wu et al. 2016). At one beam it
is greedy decoding. The cached decoding loops are keras-hub's
`GPT2CausalLM.generate_step` and `T5Seq2SeqLM.generate_step`.

Example:
    >>> lm.sampler = make_sampler(DecodingConfig(sampler="beam", num_beams=4))
    >>> out = lm.generate_step({"token_ids": ids, "padding_mask": mask}, stop_token_ids=[eos])
    >>> new_tokens(out["token_ids"], out["padding_mask"], mask, eos, max_new=32)
"""
import dataclasses

import keras
import keras_hub
import tensorflow as tf

SAMPLERS = ("greedy", "top_k", "top_p", "beam")


@dataclasses.dataclass(frozen=True)
class DecodingConfig:
    """Decoding options of generative tasks (set at training or export time)."""
    sampler: str = "greedy"
    top_k: int = 40
    top_p: float = 0.9
    temperature: float = 1.0
    num_beams: int = 4
    length_penalty: float = 0.6
    max_new_tokens: int = 64
    seed: int = 0  # for the random samplers (top_k, top_p)

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler '{self.sampler}'; choose from "
                             f"{', '.join(SAMPLERS)}")
        if self.max_new_tokens < 1 or self.num_beams < 1 or self.top_k < 1:
            raise ValueError("max_new_tokens, num_beams and top_k must be positive")


def make_sampler(config):
    """The keras-hub sampler (or BeamSearch) a DecodingConfig names."""
    if config.sampler == "greedy":
        return keras_hub.samplers.GreedySampler()
    if config.sampler == "top_k":
        return keras_hub.samplers.TopKSampler(k=config.top_k, seed=config.seed,
                                              temperature=config.temperature)
    if config.sampler == "top_p":
        return keras_hub.samplers.TopPSampler(p=config.top_p, seed=config.seed,
                                              temperature=config.temperature)
    return BeamSearch(config.num_beams, config.length_penalty)


def new_tokens(token_ids, output_mask, prompt_mask, eos_id, max_new):
    """The tokens a decoding loop added after each row's prompt, without the
    stop token, at most `max_new` per row (ragged int32)."""
    added = tf.logical_and(tf.cast(output_mask, tf.bool),
                           tf.logical_not(tf.cast(prompt_mask, tf.bool)))
    added = tf.logical_and(added, token_ids != eos_id)
    return tf.ragged.boolean_mask(tf.cast(token_ids, tf.int32), added)[:, :max_new]


def _length_penalty(lengths, alpha):
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


class BeamSearch(keras_hub.samplers.Sampler):
    """Beam search with finished hypotheses kept and a GNMT length penalty.

    Each step extends every live beam by every token, scores the candidates
    by total log-probability divided by the length penalty of their new
    length, and keeps the best `num_beams` per row; a beam that emitted a stop
    token stays as it is (its score no longer changes). Prompt positions are
    forced. Returns the best beam per row.
    """

    def __init__(self, num_beams=4, length_penalty=0.6, **kwargs):
        super().__init__(**kwargs)
        self.num_beams = num_beams
        self.length_penalty = length_penalty

    def __call__(self, next, prompt, cache=None, index=0, mask=None, stop_token_ids=None,
                 hidden_states=None, model=None):
        beams = self.num_beams
        batch = tf.shape(prompt)[0]
        max_length = tf.shape(prompt)[1]
        index = tf.cast(index, tf.int32)
        mask = tf.zeros_like(prompt, tf.bool) if mask is None else tf.cast(mask, tf.bool)
        stops = tf.constant(list(stop_token_ids or []), prompt.dtype)
        has_cache = cache is not None

        def repeat(x):
            return tf.repeat(x, beams, axis=0)
        prompt, mask = repeat(prompt), repeat(mask)
        cache = tf.nest.map_structure(repeat, cache) if has_cache else ()
        # Only the first copy of each row is live at the start.
        log_probs = tf.tile(tf.constant([0.0] + [-1e9] * (beams - 1)), [batch])
        finished = tf.zeros([batch * beams], tf.bool)
        lengths = tf.zeros([batch * beams], tf.int32)

        def cond(prompt, cache, index, log_probs, finished, lengths):
            return tf.logical_not(tf.reduce_all(finished))

        def body(prompt, cache, index, log_probs, finished, lengths):
            logits, _, new_cache = next(prompt, cache, index)
            token_logp = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
            vocab = tf.shape(token_logp)[1]
            forced = mask[:, index]
            frozen = tf.logical_or(finished, forced)
            # A finished beam may only repeat its last token at no cost (it is
            # masked out of the output); a forced position only takes the prompt.
            keep_token = tf.where(forced, prompt[:, index], prompt[:, tf.maximum(index - 1, 0)])
            only = tf.one_hot(keep_token, vocab, on_value=0.0, off_value=-1e9)
            token_logp = tf.where(frozen[:, None], only, token_logp)
            new_lengths = lengths + tf.cast(tf.logical_not(frozen), tf.int32)
            totals = log_probs[:, None] + token_logp
            scores = totals / _length_penalty(new_lengths, self.length_penalty)[:, None]
            flat_scores = tf.reshape(scores, [-1, beams * vocab])
            _, chosen = tf.math.top_k(flat_scores, k=beams)
            origin = chosen // vocab + tf.range(batch)[:, None] * beams
            origin = tf.reshape(origin, [-1])
            token = tf.reshape(chosen % vocab, [-1])
            log_probs = tf.gather(tf.reshape(totals, [-1]), origin * vocab + token)
            prompt = tf.gather(prompt, origin)
            new_cache = tf.nest.map_structure(lambda x: tf.gather(x, origin), new_cache)
            was_finished = tf.gather(finished, origin)
            was_forced = tf.gather(forced, origin)
            lengths = tf.gather(new_lengths, origin)
            token = tf.cast(token, prompt.dtype)
            column = tf.one_hot(index, max_length, on_value=True, off_value=False)[None, :]
            prompt = tf.where(column, token[:, None], prompt)
            is_stop = tf.reduce_any(token[:, None] == stops[None, :], axis=-1)
            finished = tf.logical_or(
                was_finished, tf.logical_and(is_stop, tf.logical_not(was_forced)))
            return prompt, new_cache, index + 1, log_probs, finished, lengths

        prompt, _, _, log_probs, finished, lengths = keras.ops.while_loop(
            cond, body, (prompt, cache, index, log_probs, finished, lengths),
            maximum_iterations=max_length - index)
        scores = tf.reshape(log_probs / _length_penalty(lengths, self.length_penalty),
                            [-1, beams])
        best = tf.argmax(scores, axis=1, output_type=tf.int32) + tf.range(batch) * beams
        return tf.gather(prompt, best)

    def get_config(self):
        config = super().get_config()
        config.update(num_beams=self.num_beams, length_penalty=self.length_penalty)
        return config
