"""Turns signature outputs into Python values and readable lines.

Example:
    >>> outputs = to_python(signature(text=tf.constant(["the [MASK] ."])))
    >>> describe("mlm", ["the [MASK] ."], outputs)
    ['the [MASK] .', '  [MASK] #1: cat 0.41 | dog 0.22 | ...']
"""
import json


def to_python(outputs):
    result = {}
    for name, tensor in outputs.items():
        value = tensor.numpy()
        result[name] = _decode(value.tolist()) if value.dtype.kind in "SO" else value.tolist()
    return result


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def describe(task, texts, outputs):
    """Readable lines for known output layouts (fill-mask; label, probability,
    text for classifiers); the text and a JSON object per input otherwise."""
    lines = []
    if {"mask_count", "top_tokens", "top_probs"} <= set(outputs):
        for row, text in enumerate(texts):
            lines.append(text)
            count = outputs["mask_count"][row]
            if not count:
                lines.append("  (no [MASK] in this text)")
            for slot in range(count):
                guesses = " | ".join(
                    f"{token} {prob:.3f}" for token, prob in
                    zip(outputs["top_tokens"][row][slot], outputs["top_probs"][row][slot]))
                lines.append(f"  [MASK] #{slot + 1}: {guesses}")
        return lines
    for name in ("completion", "translation"):
        if name in outputs:  # generative tasks: the prompt and what was generated
            return [f"{text}{outputs[name][row]}" if name == "completion" else
                    f"{text}\t{outputs[name][row]}" for row, text in enumerate(texts)]
    if {"label", "probabilities"} <= set(outputs):
        return [f"{outputs['label'][row]}\t{max(outputs['probabilities'][row]):.3f}\t{text}"
                for row, text in enumerate(texts)]
    for row, text in enumerate(texts):
        lines.append(f"{text}\t{json.dumps({k: v[row] for k, v in outputs.items()})}")
    return lines
