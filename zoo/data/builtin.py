"""A small generated corpus for the built-in default run (no download needed).

Sentences come from a little grammar with agreement between subject and verb,
fixed adjective-noun pairings and recurring phrases, so a masked LM has real
structure to learn: its loss falls and its accuracy climbs well above chance
within a few hundred steps.

Example:
    >>> write_corpus("runs/default/builtin_train.txt", num_lines=4000, seed=0)
    'runs/default/builtin_train.txt'
"""
import random

from zoo.atomic_files import atomic_write_text

_ANIMALS = {"cat": "small", "dog": "loyal", "horse": "strong", "bird": "tiny",
            "fox": "clever", "owl": "wise", "bear": "huge", "mouse": "quiet"}
_PLACES = {"garden": "green", "river": "cold", "forest": "dark", "city": "busy",
           "mountain": "high", "kitchen": "warm", "market": "crowded", "field": "wide"}
_VERBS = [("runs", "run"), ("sleeps", "sleep"), ("sings", "sing"), ("waits", "wait"),
          ("plays", "play"), ("eats", "eat"), ("hides", "hide"), ("walks", "walk")]
_TIMES = ["in the morning", "at night", "every day", "after the rain", "before dinner"]
_LINKS = ["because it is", "although it is", "since it is"]


def _sentence(rng):
    animal, adjective = rng.choice(list(_ANIMALS.items()))
    place, quality = rng.choice(list(_PLACES.items()))
    singular, plural = rng.choice(_VERBS)
    if rng.random() < 0.5:
        subject, verb, pronoun = f"the {adjective} {animal}", singular, "it is"
    else:
        subject, verb, pronoun = f"the {adjective} {animal}s", plural, "they are"
    sentence = f"{subject} {verb} in the {quality} {place} {rng.choice(_TIMES)}"
    if rng.random() < 0.4:
        link = rng.choice(_LINKS).replace("it is", pronoun)
        sentence += f" {link} {adjective}"
    return sentence + " ."


def generate_lines(num_lines, seed=0):
    """Returns `num_lines` lines of one to three sentences each."""
    rng = random.Random(seed)
    return [" ".join(_sentence(rng) for _ in range(rng.randint(1, 3)))
            for _ in range(num_lines)]


def write_corpus(path, num_lines, seed=0):
    atomic_write_text(path, "\n".join(generate_lines(num_lines, seed)) + "\n")
    return path
