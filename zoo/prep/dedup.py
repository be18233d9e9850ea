"""Indexes for streaming deduplication: stable 64-bit text hashes and MinHash
near-duplicate detection (character n-grams, LSH bands), kept in sorted numpy
arrays so memory grows by a few hundred bytes per kept text, never the text.

Example:
    >>> near = NearDuplicates(threshold=0.8)
    >>> near.check(["the cat sat on the mat", "the cat sat on the mat!"])
    [False, True]
"""
import hashlib

import numpy as np


def text_hash(text):
    """A stable 64-bit hash (the same in every run, unlike Python's hash())."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class HashIndex:
    """A map from integer keys (uint64, or uint32 where a collision costs only a
    check) to uint32 values: 12 or 8 bytes an entry.

    Entries live in a sorted numpy array, searched a batch of keys at a time;
    new ones wait in the dict `recent` until `compact()` merges them in (one
    linear pass). Callers add only keys they did not find.
    """

    def __init__(self, dtype=np.uint64):
        self._keys = np.empty(0, dtype)
        self._values = np.empty(0, np.uint32)
        self.recent = {}

    @property
    def nbytes(self):
        return self._keys.nbytes + self._values.nbytes

    def find(self, keys):
        """The value of each key (an array of the index's dtype) among the merged
        entries, -1 where absent; look in `recent` too."""
        found = np.full(len(keys), -1, np.int64)
        if len(self._keys):
            at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
            hit = self._keys[at] == keys
            found[hit] = self._values[at[hit]]
        return found

    def add(self, key, value):
        self.recent.setdefault(key, value)

    def compact(self, buffer_size=1 << 16):
        if len(self.recent) < buffer_size:
            return
        keys = np.fromiter(self.recent, self._keys.dtype, len(self.recent))
        values = np.fromiter(self.recent.values(), np.uint32, len(self.recent))
        order = np.argsort(keys)
        at = np.searchsorted(self._keys, keys[order])
        self._keys = np.insert(self._keys, at, keys[order])
        self._values = np.insert(self._values, at, values[order])
        self.recent = {}


class NearDuplicates:
    """MinHash over character n-grams with LSH banding, checked against kept texts.

    Each text gets `num_perm` minima of multiply-shift hashes of its n-gram
    hashes. LSH splits the signature into bands; a text that shares a band
    with a kept text is compared with it, and is a near duplicate when the
    estimated Jaccard similarity reaches `threshold`. Only the low byte of
    each minimum is kept (b-bit MinHash): two different minima agree on it one
    time in 256, which the estimate corrects for.
    """

    def __init__(self, threshold, num_perm=64, ngram=5, seed=0):
        rng = np.random.default_rng(seed)
        self.threshold, self.ngram = threshold, ngram
        self._a = rng.integers(0, 2**64, num_perm, np.uint64, endpoint=False) | np.uint64(1)
        self._b = rng.integers(0, 2**64, num_perm, np.uint64, endpoint=False)
        self._powers = rng.integers(0, 2**64, ngram, np.uint64, endpoint=False) | np.uint64(1)
        self.rows_per_band = self._rows_per_band(threshold, num_perm)
        self._band_mix = rng.integers(0, 2**64, self.rows_per_band, np.uint64, endpoint=False)
        self._band_ids = np.arange(num_perm // self.rows_per_band, dtype=np.uint64) << np.uint64(56)
        self._index = HashIndex(np.uint32)  # bucket keys: a collision only adds a candidate
        self._signatures = []  # blocks of (4096, num_perm) uint8
        self.kept = 0

    @staticmethod
    def _rows_per_band(threshold, num_perm):
        """The most rows per band (fewest buckets) that still makes a pair at the
        threshold a candidate with probability >= 0.95."""
        divisors = [r for r in range(num_perm, 0, -1) if num_perm % r == 0]
        return next(r for r in divisors
                    if 1 - (1 - threshold ** r) ** (num_perm // r) >= 0.95)

    @property
    def nbytes(self):
        return self._index.nbytes + sum(block.nbytes for block in self._signatures)

    def signatures(self, texts):
        """MinHash signatures, (len(texts), num_perm) uint32, of the texts' n-grams."""
        n = self.ngram  # a text shorter than n is padded with \x00 (never in a clean text)
        texts = [t + "\x00" * (n - len(t)) for t in texts]
        points = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32).astype(np.uint64)
        grams = sum(points[k:len(points) - n + 1 + k] * self._powers[k] for k in range(n))
        ends = np.cumsum([len(t) for t in texts])
        valid = np.ones(len(grams), bool)  # drop the n-grams that span two texts
        valid[(ends[:-1, None] - np.arange(1, n)).ravel()] = False
        grams = grams[valid]
        starts = np.concatenate([[0], np.cumsum([len(t) - n + 1 for t in texts])[:-1]])
        result = np.empty((len(self._a), len(texts)), np.uint64)
        hashed = np.empty_like(grams)
        for i, (a, b) in enumerate(zip(self._a, self._b)):  # one at a time stays in cache
            np.multiply(grams, a, out=hashed)
            hashed += b
            result[i] = np.minimum.reduceat(hashed, starts)
        return (result.T >> np.uint64(32)).astype(np.uint32)

    @staticmethod
    def similarity(sig_a, sig_b):
        """Estimated Jaccard similarity of two (b-bit) signatures."""
        agree = np.mean(sig_a.astype(np.uint8) == sig_b.astype(np.uint8))
        return (agree - 1 / 256) / (1 - 1 / 256)

    def check(self, texts):
        """For each text, whether it is a near duplicate of a kept text (one
        earlier in `texts` included); the others are kept."""
        signatures = self.signatures(texts)
        low_bytes = signatures.astype(np.uint8)
        bands = signatures.reshape(len(texts), -1, self.rows_per_band).astype(np.uint64)
        keys = (((bands @ self._band_mix) ^ self._band_ids) >> np.uint64(32)).astype(np.uint32)
        found = self._index.find(keys.ravel()).reshape(keys.shape)
        duplicates = []
        for row_keys, row_found, low in zip(keys.tolist(), found.tolist(), low_bytes):
            candidates = {self._index.recent.get(k, f) for k, f in zip(row_keys, row_found)}
            duplicate = any(self.similarity(low, self._signatures[c // 4096][c % 4096])
                            >= self.threshold for c in candidates - {-1})
            if not duplicate:
                if self.kept % 4096 == 0:
                    self._signatures.append(np.empty((4096, len(low)), np.uint8))
                self._signatures[-1][self.kept % 4096] = low
                for key, found_value in zip(row_keys, row_found):
                    if found_value < 0:  # a bucket keeps its first text
                        self._index.add(key, self.kept)
                self.kept += 1
            duplicates.append(duplicate)
        self._index.compact()
        return duplicates
