"""LoRA adapters (Hu et al. 2021) on a backbone's Dense and EinsumDense layers.

`add_adapters` calls Keras 3's `layer.enable_lora(rank, lora_alpha)` on the
chosen projections (each kernel W then acts as W + A @ B * alpha / rank, A
random, B zero, so training starts from the pretrained function) and freezes
every other backbone weight: the adapters and the task head train. Targets
(`--lora_targets`) are a comma list of `attention` (query and value
projections), `all` (every Dense/EinsumDense of the backbone) and fnmatch
patterns on a layer's path (`transformer_layer_1/*`) or name (`value`); a part
that matches nothing is a `LoraError` listing the layers there are.

`assemble` adds the adapters of a run's config (config.json's `training`), so
evaluation, prediction and export restore them from the checkpoints;
`merge_adapters` folds them into the kernels (W += A @ B * alpha / rank) and
deletes them, so an export has no adapter variable and costs nothing extra.

Example:
    >>> add_adapters(backbone, rank=8, alpha=16, targets="attention")
    ['transformer_layer_0/self_attention_layer/query', ...]
    >>> merge_adapters(model)          # before export; returns the layers merged
    4
    zoo-train --task=classification --init_checkpoint=runs/pre --lora_rank=8 ...
"""
import fnmatch

import keras

#: Names of the query and value projections: keras MultiHeadAttention's
#: (BERT, GPT-2, transformer_*) and keras-hub T5's.
ATTENTION = ("query", "value", "query_projector", "value_projector")
ADAPTERS = ("lora_kernel_a", "lora_kernel_b")


class LoraError(ValueError):
    """Unusable LoRA settings (a rank below 0, a target that matches no layer)."""


def settings(rank=0, alpha=0.0, targets="attention"):
    """The run's LoRA settings as config.json's `training` holds them: alpha 0
    means the rank (scale 1, Keras's default); all empty when rank is 0."""
    if not rank:
        return {"lora_rank": 0, "lora_alpha": 0.0, "lora_targets": ""}
    return {"lora_rank": int(rank), "lora_alpha": float(alpha or rank),
            "lora_targets": targets}


def saved_settings(training):
    """settings() of a run's `training` dict (runs from before LoRA: rank 0)."""
    return settings(training.get("lora_rank", 0), training.get("lora_alpha", 0.0),
                    training.get("lora_targets", "attention"))


def run_adapters(backbone, training):
    """add_adapters() as a run's `training` dict (config.json) says."""
    saved = saved_settings(training or {})
    return add_adapters(backbone, saved["lora_rank"], saved["lora_alpha"], saved["lora_targets"])


def projections(backbone):
    """[(path, layer)] of the backbone's Dense and EinsumDense layers, in layer order;
    the path is that of the kernel without `/kernel`."""
    found, seen = [], set()
    for layer in backbone._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense)) and \
                id(layer) not in seen:
            seen.add(id(layer))
            found.append((layer._kernel.path.rsplit("/", 1)[0], layer))
    return found


def select(backbone, targets):
    """[(path, layer)] that `targets` names (see the module doc), or LoraError."""
    layers = projections(backbone)
    parts = [part.strip() for part in (targets or "").split(",") if part.strip()]
    if not parts:
        raise LoraError("--lora_targets is empty; use attention, all or layer-name patterns")
    chosen = set()
    for part in parts:
        if part == "all":
            hits = layers
        elif part == "attention":
            hits = [(p, layer) for p, layer in layers if layer.name in ATTENTION]
        else:
            hits = [(p, layer) for p, layer in layers
                    if fnmatch.fnmatchcase(p, part) or fnmatch.fnmatchcase(layer.name, part)]
        if not hits:
            raise LoraError(
                f"--lora_targets: '{part}' matches no Dense/EinsumDense layer of "
                f"{type(backbone).__name__}; its layers are: "
                f"{', '.join(p for p, _ in layers) or '(none)'}")
        chosen.update(id(layer) for _, layer in hits)
    return [(p, layer) for p, layer in layers if id(layer) in chosen]


def add_adapters(backbone, rank=0, alpha=0.0, targets="attention"):
    """Enables LoRA of `rank` on the `targets` layers and freezes every other weight of
    the backbone; returns the adapted layers' paths ([] and no change for rank 0).
    Call it inside the strategy scope, after the backbone's weights are loaded and
    before the optimizer is built."""
    if rank < 0 or alpha < 0:
        raise LoraError(f"--lora_rank and --lora_alpha must be >= 0, got {rank}, {alpha}")
    if not rank:
        return []
    chosen = select(backbone, targets)
    for _, layer in chosen:
        layer.enable_lora(int(rank), lora_alpha=float(alpha or rank))
    adapters = {id(getattr(layer, name)) for _, layer in chosen for name in ADAPTERS}
    for variable in backbone.weights:
        if id(variable) not in adapters:
            variable.trainable = False
    return [path for path, _ in chosen]


def merge_adapters(model):
    """Folds every enabled LoRA adapter of `model` into its kernel (W += A @ B *
    alpha / rank) and deletes the adapter variables; returns how many layers."""
    merged = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if not getattr(layer, "lora_enabled", False):
            continue
        kernel = layer._kernel
        delta = keras.ops.matmul(layer.lora_kernel_a, layer.lora_kernel_b) * \
            (layer.lora_alpha / layer.lora_rank)
        kernel.assign(keras.ops.cast(keras.ops.add(kernel.value, delta), kernel.dtype))
        for name in ADAPTERS:
            delattr(layer, name)  # (Keras untracks the variable)
        layer.lora_enabled, layer.lora_rank, layer.lora_alpha = False, None, None
        kernel.trainable = True
        merged += 1
    return merged


def describe(paths, rank, alpha, trainable, total):
    """The start-of-training line: the adapted layers and the trainable share."""
    shown = ", ".join(paths[:4]) + (f", ... ({len(paths)} in all)" if len(paths) > 4 else "")
    return (f"lora: rank {rank}, alpha {alpha:g} (scale {alpha / rank:g}) on {len(paths)} "
            f"layer(s): {shown}; {trainable:,} of {total:,} parameters train "
            f"({trainable / max(total, 1):.2%})")
