"""Word counts of the texts a vocabulary is learned from, in plain Python (no
TensorFlow): the vocabulary learners (`zoo.data.tokenizers.vocab_learners`) learn from
the counts, not from the texts.

`count_whitespace_words` counts the words between whitespace (what a
SentencePiece trainer splits sentences into); `count_words` splits those
further as `zoo.data.tokenizers.wordpiece.WordPieceEncoder` does (BERT's
tokenizer): control and format characters removed, accents stripped and each
character lowercased (`lowercase`), each punctuation mark and CJK character a
word of its own. A distinct word is normalised and split once, whatever its
count, so 100 MB of English take a few seconds: the whitespace split and its
count. The control characters that `str.split` takes for whitespace (U+001C to
U+001F, U+0085, vertical tab, form feed) are removed first, as BERT removes them.

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
#: Control characters that str.split takes for whitespace, and the rest of C0 and C1.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")


def iter_strings(texts):
    """The str of an iterable of str or of a tf.data dataset of scalar strings."""
    if hasattr(texts, "as_numpy_iterator"):  # a tf.data dataset
        return (text.decode("utf-8") for text in texts.as_numpy_iterator())
    return iter(texts)


def count_whitespace_words(texts, clean=False):
    """{word: count} of the words between whitespace (`str.split`) of an iterable
    of str or a tf.data dataset, in order of first appearance; `clean` removes the
    control characters of `_CONTROL` first."""
    counts = collections.Counter()
    chunk = []

    def count():
        text = "\n".join(chunk)
        counts.update((_CONTROL.sub("", text) if clean else text).split())
    for text in iter_strings(texts):
        chunk.append(text)
        if len(chunk) == CHUNK:
            count()
            chunk = []
    count()
    return dict(counts)


def count_words(texts, lowercase=True):
    """{word: count} of texts (an iterable of str or a tf.data dataset), split as
    `zoo.data.tokenizers.wordpiece.WordPieceEncoder` splits them before looking words up
    (after `bert_normalize_text`)."""
    counts = collections.Counter()
    for token, count in count_whitespace_words(texts, clean=True).items():
        if lowercase or not token.isascii():
            token = _normalized_token(token, lowercase)
        if token.isascii() and token.isalnum():
            counts[token] += count
            continue
        for word in _words(token):
            counts[word] += count
    return dict(counts)


def _words(token):
    """The words of a normalised whitespace-free token; special tokens stay whole."""
    if "[" in token and _SPECIAL.search(token):
        parts = _SPECIAL.split(token)  # (the special tokens at the odd places)
        return [word for index, part in enumerate(parts)
                for word in ([part] if index % 2 else _words(part))]
    return _ASCII_WORDS.findall(token) if token.isascii() else split_words(token)


def _normalized_token(token, lowercase):
    """`bert_normalize_text` of a token, with the special tokens in it left as
    written (as the encoder leaves them)."""
    if "[" in token and _SPECIAL.search(token):
        parts = _SPECIAL.split(token)  # (the special tokens at the odd places)
        return "".join(part if index % 2 else _normalized_token(part, lowercase)
                       for index, part in enumerate(parts))
    return token.lower() if token.isascii() else bert_normalize_text(token, lowercase)


def bert_normalize_text(text, lowercase=True):
    """`zoo.data.tokenizers.wordpiece.bert_normalize` in Python: NUL, U+FFFD and
    characters of category C (but tab, LF, CR, and unassigned ones) removed,
    whitespace (Z) made " ";
    with `lowercase`, NFD, combining marks (Mn) removed and each character
    lowercased on its own (no final sigma, no NFKC).

    >>> bert_normalize_text("ÀB\u200bC Σ ﬁ")
    'abc σ ﬁ'
    """
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char in "\t\n\r" or category[0] == "Z":
            kept.append(" ")
        elif (category[0] != "C" or category == "Cn") and char != "\ufffd":
            kept.append(char)
    text = "".join(kept)
    if not lowercase:
        return text
    return "".join(char.lower() for char in unicodedata.normalize("NFD", text)
                   if unicodedata.category(char) != "Mn")


def split_words(text):
    """`zoo.data.tokenizers.wordpiece.split_words` of a normalised string, in Python."""
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
