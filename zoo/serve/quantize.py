"""Weight-only post-training int8 quantization of a restored zoo model.

Keras 3's own `Model.quantize("int8")` replaces the float kernel of every
Dense, EinsumDense and Embedding layer (backbone and head) by an int8 kernel
and a float scale per output channel; activations stay float. The model must
be built and restored first (quantizing changes the variables a checkpoint
would restore). A model is never left half quantized: if Keras fails, or a
quantizable layer is still float afterwards, `QuantizeError` is raised and
the caller (`zoo.serve.export.export_model`) writes nothing.

Example:
    >>> run = assemble(config, model_dir)            # built, then restored
    >>> quantize_model(run.model, "int8")
    {'mode': 'int8', 'layers': 16, 'int8_variables': 16}
    zoo-export --model_dir=runs/sst2 --quantize=int8 --eval_data=sst2/dev.tsv
"""
import warnings

import keras

#: Values of `zoo-export --quantize`; "" exports float weights.
MODES = ("", "int8")
QUANTIZABLE = (keras.layers.Dense, keras.layers.EinsumDense, keras.layers.Embedding)


class QuantizeError(ValueError):
    """Quantization is impossible or failed; nothing is exported."""


def check_mode(mode):
    if mode not in MODES:
        raise QuantizeError(f"unknown --quantize mode '{mode}'; choose from "
                            f"{', '.join(repr(m) for m in MODES)}")
    return mode


def quantizable_layers(model):
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, QUANTIZABLE)]


def int8_variables(model):
    """Paths of the model's int8 variables (the quantized kernels and embeddings)."""
    return [v.path for v in model.variables if str(v.dtype) == "int8"]


def quantize_model(model, mode="int8"):
    """Quantizes `model`'s weights in place; returns a summary, or raises QuantizeError
    (after which the model must be discarded)."""
    check_mode(mode)
    if not mode:
        return {"mode": "", "layers": 0, "int8_variables": 0}
    layers = quantizable_layers(model)
    if not layers:
        raise QuantizeError(f"model '{model.name}' has no Dense, EinsumDense or Embedding "
                            "layer to quantize")
    already = [layer.name for layer in layers if getattr(layer, "quantization_mode", None)]
    if already:
        raise QuantizeError(f"layers {', '.join(already[:5])} are already quantized")
    try:
        with warnings.catch_warnings():  # "Layer Dropout does not have a `quantize` method"
            warnings.filterwarnings("ignore", message=".*does not have a `quantize` method")
            model.quantize(mode)
    except Exception as error:  # noqa: BLE001 - any Keras failure is reported the same way
        raise QuantizeError(f"{mode} quantization of model '{model.name}' failed: "
                            f"{type(error).__name__}: {error}") from error
    left = [layer.name for layer in layers if getattr(layer, "quantization_mode", None) != mode]
    if left:
        raise QuantizeError(f"{mode} quantization left {len(left)} layer(s) float "
                            f"({', '.join(left[:5])}); refusing a half-quantized model")
    return {"mode": mode, "layers": len(layers), "int8_variables": len(int8_variables(model))}


def directory_bytes(path):
    """Total size of the files under `path` (an export version directory)."""
    from zoo.fileio import directory_bytes as total
    return total(path)
