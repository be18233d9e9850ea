"""Vocabulary learning from word counts (`zoo.data.tokenizers.word_counts`), with
SentencePiece's trainers and no TensorFlow: WordPiece vocab files for
`zoo.data.tokenizers.wordpiece.WordPieceEncoder` and SentencePiece models (unigram or
BPE) for `zoo.data.tokenizers.spm.SentencePieceEncoder`.

Both hand the trainer the distinct words with their counts (its TSV input),
sorted by count, so its work is that of the distinct words, not of every line
of the sample: a SentencePiece trainer splits sentences into words anyway
before learning pieces, and weighs a TSV word by its count. On 100 MB of
English the BPE model has the same pieces as from the lines and the unigram
model the same bytes per token on held-out text (within 0.1%), in a third of
the time; fewer seed pieces and EM steps (`seed_pieces`, UNIGRAM_EM_STEPS)
take another third off.

A WordPiece vocab from a sample of more than TOP_DOWN_MAX_WORDS distinct
words is SentencePiece's BPE merges on the words as `count_words` splits them (as in Hugging Face's WordPiece trainer, which is BPE too):
a piece that starts a word ("▁the") is a word-initial token ("the"), any
other a "##" continuation ("##ing"); every character of the words is a token
in both forms. Smaller samples (toy corpora, small vocabs) take
tensorflow-text's top-down learner, which makes whole frequent words tokens
first and there takes a second.

Example:
    >>> train_wordpiece_vocab(["Hello world", "hello there"], 40, "run/vocab.txt")
    >>> train_sentencepiece(["a line", "another line"], 200, "run/spm.model", "bpe")
"""
import bisect
import collections
import math
import os
import shutil
import tempfile
import time

from zoo import atomic_files, fileio
from zoo.atomic_files import atomic_write_text
from zoo.data.tokenizers.special_tokens import MASK, SPECIAL_TOKENS
from zoo.data.tokenizers.word_counts import count_whitespace_words, count_words

SENTENCEPIECE_TYPES = ("unigram", "bpe")
#: As tensorflow-text's WordPiece learner: the most frequent characters kept
#: (words with others are left out) and the longest word learned from.
MAX_CHARS, MAX_WORD_CHARS = 1000, 50
#: The unigram trainer's threads, fixed (its default): how it splits its sums
#: depends on them, so another number would give another model.
SPM_THREADS = 16
#: EM steps of the unigram trainer between prunings (its default: 2). On word
#: counts of 100 MB of English one step took a quarter less CPU, for the same
#: bytes per token on held-out text with 32,000 pieces and 0.1% to 0.25% more
#: with 8000 (IMDB, SST-2, Multi30k).
UNIGRAM_EM_STEPS = 1
#: Samples of up to this many distinct words learn WordPiece top down
#: (`learn_wordpiece_top_down`: whole frequent words, fewer tokens per word
#: with a small vocab), larger ones by BPE merges (`learn_wordpiece`), whose
#: time does not grow with a threshold search.
TOP_DOWN_MAX_WORDS = 20000
#: The top-down learner's bounds (tensorflow-text's defaults): no count threshold
#: below LOWEST_THRESHOLD; a vocabulary up to SLACK short of the size asked for is done.
LOWEST_THRESHOLD, SLACK = 10, 0.05
#: SentencePiece's word-start mark, and the continuation prefix of WordPiece.
WORD_START, JOINER = "\u2581", "##"


def train_wordpiece_vocab(texts, vocab_size, path, lowercase=True, extra_tokens=()):
    """Learns a WordPiece vocab of `vocab_size` tokens (fewer when the words run
    out) from strings (an iterable of str or a tf.data dataset) and writes it
    atomically. Returns the list of tokens; special tokens (then
    `extra_tokens`, e.g. sentinels) come first ([PAD] is id 0)."""
    counts = count_words(texts, lowercase)
    reserved = list(SPECIAL_TOKENS) + list(extra_tokens)
    if len(counts) <= TOP_DOWN_MAX_WORDS:
        vocab = learn_wordpiece_top_down(counts, vocab_size + len(extra_tokens), reserved)
    else:
        vocab = learn_wordpiece(counts, vocab_size, reserved)
    atomic_write_text(path, "\n".join(vocab) + "\n")
    return vocab


def learn_wordpiece_top_down(counts, vocab_size, reserved_tokens):
    """tensorflow-text's WordPiece learner (whole words at least as frequent as a
    count threshold, then their pieces: how BERT's vocab was built) at the
    threshold that gives `vocab_size` tokens (up to `SLACK` fewer), found in a
    step or two. Each try is a pass of the learner's Python over every distinct
    word (about 15 s for the 93k words of 100 MB of English), hence only for
    samples of up to TOP_DOWN_MAX_WORDS words. A word at least as frequent as
    the threshold t is a token and pieces add a share: about C + k * words(t)
    tokens, C the character tokens; each try aims at the middle of the slack
    with k as last measured (1.25 at first), from the fifth try on at the
    bounds' geometric middle."""
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner
    if not counts:
        raise ValueError("no words to learn a WordPiece vocabulary from")
    ranked = sorted(counts.values())
    chars = 2 * len({char for word in counts for char in word})
    # As the learner bounds its search: from the rarest word's count (at least 10) to the top's.
    low = max(ranked[0], LOWEST_THRESHOLD)
    high, ratio, target = max(ranked[-1], low), 1.25, vocab_size * (1 - SLACK / 2)
    under = over = None
    tries = 0
    while low <= high:
        words = max(int((target - chars) / ratio), 1)
        threshold = min(max(ranked[-min(words, len(ranked))], low), high)
        if tries >= 4:  # the estimates do not converge: bisect (log scale)
            threshold = int(math.sqrt(low * high))
        started = time.monotonic()
        vocab = learner.learn(counts, vocab_size, reserved_tokens, upper_thresh=threshold,
                              lower_thresh=threshold)
        print(f"wordpiece: {len(vocab):,} tokens at count threshold {threshold} "
              f"({time.monotonic() - started:.0f} s)", flush=True)
        if len(vocab) > vocab_size:
            low, over = threshold + 1, vocab
        else:
            high, under = threshold - 1, vocab
            if len(vocab) >= vocab_size * (1 - SLACK):
                break
        frequent = len(ranked) - bisect.bisect_left(ranked, threshold)
        ratio = max(len(vocab) - chars, 1) / max(frequent, 1)
        tries += 1
    return under if under is not None else over[:vocab_size]


def learn_wordpiece(counts, vocab_size, reserved_tokens):
    """A WordPiece vocabulary from {word: count}: `reserved_tokens`, each character,
    their "##" forms, then BPE's pieces in the order they were merged, cut at
    `vocab_size`."""
    import sentencepiece

    chars = collections.Counter()
    for word, count in counts.items():
        for char in word:
            chars[char] += count
    ranked = sorted(chars, key=lambda char: (-chars[char], char))
    allowed = set(ranked[:MAX_CHARS]) - {WORD_START}
    words = {word: count for word, count in counts.items()
             if len(word) <= MAX_WORD_CHARS and allowed.issuperset(word)}
    if not words:
        raise ValueError("no words to learn a WordPiece vocabulary from")
    # The characters most frequent first: a vocab_size too small for them all
    # in both forms loses the rarest "##" forms.
    used = {char for word in words for char in word}
    alphabet = [char for char in ranked if char in used]
    vocab = dict.fromkeys([*reserved_tokens, *alphabet, *(JOINER + char for char in alphabet)])
    # A merge into a word-initial character ("▁a") gives no new token: ask for
    # as many more merges as there are characters.
    merges = vocab_size - len(vocab) + len(alphabet)
    if len(vocab) < vocab_size:
        started = time.monotonic()
        pieces = _train_on_counts(words, vocab_size=2 + len(alphabet) + merges,
                                  model_type="bpe", normalization_rule_name="identity",
                                  remove_extra_whitespaces=False, split_by_unicode_script=False,
                                  split_by_number=False, max_sentencepiece_length=16,
                                  character_coverage=1.0, hard_vocab_limit=False,
                                  unk_id=0, bos_id=-1, eos_id=-1)
        model = sentencepiece.SentencePieceProcessor(model_proto=pieces)
        for index in range(model.get_piece_size()):
            if model.is_unknown(index) or model.is_control(index):
                continue
            piece = model.id_to_piece(index)
            token = piece[1:] if piece.startswith(WORD_START) else JOINER + piece
            if token and token != JOINER:
                vocab.setdefault(token)
        print(f"wordpiece: {min(len(vocab), vocab_size):,} tokens from {len(words):,} distinct "
              f"words ({time.monotonic() - started:.0f} s)", flush=True)
    return list(vocab)[:vocab_size]


def seed_pieces(vocab_size):
    """The unigram trainer's seed pieces: 5 per piece to learn, 50k to 1M. Its
    default, 1M, takes more rounds of EM and pruning. On word counts of 100 MB
    of English, 8000 pieces from 50k seeds instead of 100k and 32,000 from 160k
    instead of 320k took a quarter less CPU for the same bytes per token on
    held-out text (within 0.1%: IMDB, SST-2, Multi30k)."""
    return min(max(5 * vocab_size, 50000), 1000000)


def train_sentencepiece(texts, vocab_size, model_path, model_type="unigram", extra_tokens=()):
    """Trains a SentencePiece model (unigram or BPE) from the words between
    whitespace of strings (an iterable of str or a tf.data dataset) and writes
    `model_path` (and the matching `.vocab`) atomically. Returns its number of
    pieces."""
    if model_type not in SENTENCEPIECE_TYPES:
        raise ValueError(f"unknown SentencePiece type '{model_type}'; choose from "
                         f"{', '.join(SENTENCEPIECE_TYPES)}")
    counts = count_whitespace_words(texts)
    if not counts:
        raise ValueError("no words to learn a SentencePiece model from")
    remote = fileio.is_remote(model_path)  # (sentencepiece writes local files only)
    directory = fileio.dirname(model_path)
    fileio.makedirs(directory)
    workdir = tempfile.mkdtemp(dir=None if remote else directory, prefix=".spm-tmp-")
    print(f"sentencepiece: learning {vocab_size:,} {model_type} pieces from {len(counts):,} "
          "distinct words...", flush=True)
    started = time.monotonic()
    try:
        prefix = os.path.join(workdir, "spm")
        proto = _train_on_counts(
            counts, workdir, prefix, vocab_size=vocab_size, model_type=model_type,
            character_coverage=1.0, pad_id=0, unk_id=1, bos_id=2, eos_id=3,
            user_defined_symbols=[MASK, *extra_tokens], hard_vocab_limit=False,
            seed_sentencepiece_size=seed_pieces(vocab_size), num_threads=SPM_THREADS,
            num_sub_iterations=UNIGRAM_EM_STEPS)
        with open(prefix + ".model", "wb") as handle:
            handle.write(proto)
        vocab_path = os.path.splitext(model_path)[0] + ".vocab"
        if remote:
            atomic_files.atomic_copy(prefix + ".vocab", vocab_path)
            atomic_files.atomic_copy(prefix + ".model", model_path)
        else:
            os.replace(prefix + ".vocab", vocab_path)
            os.replace(prefix + ".model", model_path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    from sentencepiece import sentencepiece_model_pb2
    size = len(sentencepiece_model_pb2.ModelProto.FromString(proto).pieces)
    print(f"sentencepiece: {size:,} pieces ({time.monotonic() - started:.0f} s)", flush=True)
    return size


def _train_on_counts(counts, workdir=None, prefix=None, **options):
    """Runs SentencePiece's trainer on {word: count}, written as its TSV input
    (most frequent first); returns the model's bytes with the temporary paths
    cleared from it, so that the same counts give the same bytes."""
    import sentencepiece
    from sentencepiece import sentencepiece_model_pb2

    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix=".spm-tmp-")
    prefix = prefix or os.path.join(workdir, "spm")
    try:
        corpus = os.path.join(workdir, "words.tsv")
        with open(corpus, "w", encoding="utf-8") as handle:
            for word, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
                if "\t" not in word:
                    handle.write(f"{word}\t{count}\n")
        sentencepiece.SentencePieceTrainer.train(
            input=corpus, input_format="tsv", model_prefix=prefix, minloglevel=2, **options)
        with open(prefix + ".model", "rb") as handle:
            proto = sentencepiece_model_pb2.ModelProto.FromString(handle.read())
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    proto.trainer_spec.ClearField("input")
    proto.trainer_spec.ClearField("model_prefix")
    return proto.SerializeToString()
