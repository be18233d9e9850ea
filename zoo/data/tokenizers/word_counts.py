"""Word counts of the texts a vocabulary is learned from, in plain Python (no
TensorFlow): the vocabulary learners (`zoo.data.tokenizers.vocab_learners`) learn from
the counts, not from the texts.

`count_whitespace_words` counts the words between whitespace (what a
SentencePiece trainer splits sentences into); `count_words` splits those
further as keras-hub's WordPiece tokenizer splits text after
`zoo.data.tokenizers.wordpiece.uncased`: accents stripped and case folded (`lowercase`),
whitespace and control and format characters dropped, each punctuation mark
and CJK character a word of its own. A distinct word is normalised and split
once, whatever its count, so 100 MB of English take a few seconds: the
whitespace split and its count.

The first split is `str.split`'s, at any Unicode whitespace; keras-hub splits
at ASCII whitespace only, after `uncased` has turned no-break and other
spaces into " ". So without `lowercase` (and for the few spaces NFKC keeps,
such as U+2028) "a", a no-break space and "b" are two words here, one there.

Example:
    >>> count_words(["Héllo, WORLD", "hello again"])
    {'hello': 2, ',': 1, 'world': 1, 'again': 1}
"""
import collections
import re
import string
import unicodedata

from zoo.data.tokenizers.special_tokens import SPECIAL_TOKENS

#: Texts joined and split at a time.
CHUNK = 1024
_ASCII_PUNCTUATION = frozenset(string.punctuation)  # keras-hub: all non-alphanumeric ASCII
_ASCII_WORDS = re.compile(r"[A-Za-z0-9]+|[!-/:-@\[-`{-~]")
_SPECIAL = re.compile("(" + "|".join(map(re.escape, SPECIAL_TOKENS)) + ")")
#: keras-hub's CJK ranges (those of BERT's tokenizer).
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
_WORD, _DROP, _ALONE = 0, 1, 2


def iter_strings(texts):
    """The str of an iterable of str or of a tf.data dataset of scalar strings."""
    if hasattr(texts, "as_numpy_iterator"):  # a tf.data dataset
        return (text.decode("utf-8") for text in texts.as_numpy_iterator())
    return iter(texts)


def count_whitespace_words(texts):
    """{word: count} of the words between whitespace (`str.split`) of an iterable
    of str or a tf.data dataset, in order of first appearance."""
    counts = collections.Counter()
    chunk = []
    for text in iter_strings(texts):
        chunk.append(text)
        if len(chunk) == CHUNK:
            counts.update("\n".join(chunk).split())
            chunk = []
    counts.update("\n".join(chunk).split())
    return dict(counts)


def count_words(texts, lowercase=True):
    """{word: count} of texts (an iterable of str or a tf.data dataset), split as
    `zoo.data.tokenizers.wordpiece.WordPieceEncoder` splits them before looking words up
    (after `uncased` if `lowercase`)."""
    counts = collections.Counter()
    for token, count in count_whitespace_words(texts).items():
        if lowercase:
            token = _uncased_token(token)
        if token.isascii():
            if token.isalnum():
                counts[token] += count
                continue
            words = _ASCII_WORDS.findall(token)
        else:
            words = split_words(token)
        for word in words:
            counts[word] += count
    return dict(counts)


def _uncased_token(token):
    """`uncased_text` of a token, with the special tokens in it left as written
    (as `uncased` leaves them)."""
    if "[" in token and _SPECIAL.search(token):
        parts = _SPECIAL.split(token)  # (the special tokens at the odd places)
        return "".join(part if index % 2 else _uncased_token(part)
                       for index, part in enumerate(parts))
    return token.lower() if token.isascii() else uncased_text(token)


def uncased_text(text):
    """`zoo.data.tokenizers.wordpiece.uncased` in Python: NFD, combining marks (Mn) removed,
    then NFKC case folding, which also removes format characters (Cf, such as
    soft hyphens and zero-width spaces)."""
    text = "".join(char for char in unicodedata.normalize("NFD", text)
                   if unicodedata.category(char) not in ("Mn", "Cf"))
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def split_words(text):
    """keras-hub's `pretokenize` split of a string (its regex split in Python)."""
    words, word = [], []
    for char in text:
        kind = _char_kind(char)
        if kind == _WORD:
            word.append(char)
            continue
        if word:
            words.append("".join(word))
            word = []
        if kind == _ALONE:
            words.append(char)
    if word:
        words.append("".join(word))
    return words


_kinds = {}


def _char_kind(char):
    kind = _kinds.get(char)
    if kind is None:
        category, point = unicodedata.category(char), ord(char)
        if char in " \t\n\r\f" or category in ("Cc", "Cf"):
            kind = _DROP
        elif char in _ASCII_PUNCTUATION or category.startswith("P") or \
                any(low <= point <= high for low, high in _CJK):
            kind = _ALONE
        else:
            kind = _WORD
        _kinds[char] = kind
    return kind
