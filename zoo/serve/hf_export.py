"""Writes a run's backbone as a Hugging Face (transformers-format) directory:
`config.json`, `model.safetensors` and the tokenizer files, which
`--init_checkpoint` (zoo.models.hf_import) and transformers' `from_pretrained`
read back.

| run (--model, --tokenizer)          | weights, `architectures`     | tokenizer files         |
|-------------------------------------|------------------------------|-------------------------|
| bert_* (post-LN), wordpiece         | BertModel names              | vocab.txt,              |
|                                     |                              | tokenizer_config.json   |
|                                     |                              | (do_lower_case),        |
|                                     |                              | special_tokens_map.json |
| gpt_*/gpt2_*, byte_bpe              | GPT2LMHeadModel (head tied,  | vocab.json, merges.txt, |
|                                     | not stored)                  | tokenizer_config.json   |
| t5_*, sentencepiece_*               | T5ForConditionalGeneration   | spiece.model, ...       |

BERT and GPT-2 names are those keras-hub's own importers read
(keras_hub.src.utils.transformers.convert_bert / convert_gpt2), inverted
mechanically: the importer runs against a loader that hands out index arrays
(0, 1, 2, ... in the published tensor's shape) instead of weights, so that its
transposes, reshapes and slices (GPT-2's fused c_attn) record which published
element each Keras element is read from. Writing every Keras element back to
that place is the exact inverse: re-importing gives every tensor bit-equal,
and a published element written twice or never is an error. T5 inverts
zoo.models.hf_t5.weight_map.

Only the backbone is written: a task's head (a classifier, an MLM head) is not
part of these layouts. `zoo_export.json` beside them records the run, task and
checkpoint. Refused, with the reason: pre-LN BERT (no published layout), GPT
runs with another tokenizer than byte_bpe (GPT-2's files are byte-level BPE), a
GPT feed-forward other than 4 x hidden (the importer assumes it), and other
model families.

Example:
    >>> path = export_transformers("runs/a", "runs/a/transformers")   # .../transformers/1
    >>> sorted(os.listdir(path))
    ['config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer_config.json',
     'vocab.txt', 'zoo_export.json']
    >>> hf_import.load_backbone(path)      # the same weights, bit for bit
"""
import json
import math
import os

import keras
import numpy as np
import tensorflow as tf

from zoo import fileio
from zoo.assembly import assemble
from zoo.atomic_files import atomic_directory
from zoo.models import hf_import, hf_t5
from zoo.run_config import load_run_config
from zoo.train.checkpoint_repair import latest_restorable

METADATA_FILE = "zoo_export.json"
#: safetensors metadata transformers expects of a torch-layout file.
SAFETENSORS_METADATA = {"format": "pt"}


class HfExportError(ValueError):
    """A run that cannot be written in the Hugging Face format; the message says why."""


# -- which published layout a run has ------------------------------------------


def model_type(config):
    """'bert', 'gpt2' or 't5' for a RunConfig; HfExportError for the rest."""
    from plugins import MODELS
    spec = MODELS.get(config.model)
    by_class = {name: kind for kind, name in hf_import.CONFIG_CLASSES.items()}
    kind = by_class.get(type(spec.config).__name__)
    if kind is None:
        raise HfExportError(f"--model={config.model} ({type(spec.config).__name__}) has no "
                            "Hugging Face layout the zoo writes; BERT, GPT and T5 runs do")
    if kind == "bert" and config.model_config.get("normalize_first"):
        raise HfExportError(f"--model={config.model} is a pre-LN BERT (normalize_first): "
                            "Hugging Face's BERT layout is post-LN, so these weights would "
                            "compute another function there")
    fields = config.model_config
    if kind == "gpt2" and fields["intermediate_dim"] != 4 * fields["hidden_dim"]:
        raise HfExportError(f"GPT-2's layout is read back with a feed-forward of 4 x "
                            f"hidden_dim; this run has {fields['intermediate_dim']} for "
                            f"hidden_dim {fields['hidden_dim']}")
    wanted = {"bert": ("wordpiece",), "gpt2": ("byte_bpe",),
              "t5": ("sentencepiece_unigram", "sentencepiece_bpe")}[kind]
    if config.tokenizer not in wanted:
        hint = {"bert": "train with --tokenizer=wordpiece",
                "gpt2": "train with --tokenizer=byte_bpe and --vocab=bpe.json (GPT-2's "
                        "vocab.json and merges.txt) or from a GPT-2 --init_checkpoint",
                "t5": "train with --tokenizer=sentencepiece_unigram"}[kind]
        raise HfExportError(f"a Hugging Face {kind} directory holds a "
                            f"{hf_import.TOKENIZER_KINDS[kind]} tokenizer "
                            f"({' + '.join(hf_import.TOKENIZER_FILES[kind])}); this run's is "
                            f"'{config.tokenizer}': {hint}")
    return kind


# -- weights --------------------------------------------------------------------


def _bert_shapes(c):
    """Published BERT (BertModel) tensor names -> shapes."""
    hidden, inner = c["hidden_size"], c["intermediate_size"]
    shapes = {"embeddings.word_embeddings.weight": (c["vocab_size"], hidden),
              "embeddings.position_embeddings.weight": (c["max_position_embeddings"], hidden),
              "embeddings.token_type_embeddings.weight": (c["type_vocab_size"], hidden),
              "embeddings.LayerNorm.weight": (hidden,), "embeddings.LayerNorm.bias": (hidden,),
              "pooler.dense.weight": (hidden, hidden), "pooler.dense.bias": (hidden,)}
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"):
            shapes[f"{p}{name}.weight"], shapes[f"{p}{name}.bias"] = (hidden, hidden), (hidden,)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[f"{p}{name}.weight"] = shapes[f"{p}{name}.bias"] = (hidden,)
        shapes[f"{p}intermediate.dense.weight"] = (inner, hidden)  # torch Linear: [out, in]
        shapes[f"{p}intermediate.dense.bias"] = (inner,)
        shapes[f"{p}output.dense.weight"], shapes[f"{p}output.dense.bias"] = \
            (hidden, inner), (hidden,)
    return shapes


def _gpt2_shapes(c):
    """Published GPT-2 tensor names (without `transformer.`) -> shapes."""
    hidden, inner = c["n_embd"], c["n_inner"]
    shapes = {"wte.weight": (c["vocab_size"], hidden), "wpe.weight": (c["n_positions"], hidden),
              "ln_f.weight": (hidden,), "ln_f.bias": (hidden,)}
    for i in range(c["n_layer"]):
        p = f"h.{i}."
        for name in ("ln_1", "ln_2"):
            shapes[f"{p}{name}.weight"] = shapes[f"{p}{name}.bias"] = (hidden,)
        # Conv1D weights are [in, out]; c_attn holds query, key and value side by side.
        shapes.update({f"{p}attn.c_attn.weight": (hidden, 3 * hidden),
                       f"{p}attn.c_attn.bias": (3 * hidden,),
                       f"{p}attn.c_proj.weight": (hidden, hidden), f"{p}attn.c_proj.bias": (hidden,),
                       f"{p}mlp.c_fc.weight": (hidden, inner), f"{p}mlp.c_fc.bias": (inner,),
                       f"{p}mlp.c_proj.weight": (inner, hidden), f"{p}mlp.c_proj.bias": (hidden,)})
    return shapes


class IndexLoader:
    """Stands in for keras-hub's SafetensorLoader: `get_tensor` hands out the flat
    element indices of a published tensor, and `port_weight` records, for each
    Keras variable, the index array the importer's hook makes of them."""

    def __init__(self, shapes):
        self.shapes = shapes
        self.ports = []  # (keras variable, published name, index array in its shape)

    def get_tensor(self, hf_weight_key):
        if hf_weight_key not in self.shapes:
            raise KeyError(hf_weight_key)  # (convert_bert probes LayerNorm.gamma this way)
        shape = self.shapes[hf_weight_key]
        return np.arange(math.prod(shape), dtype=np.int64).reshape(shape)

    def port_weight(self, keras_variable, hf_weight_key, hook_fn=None):
        index = self.get_tensor(hf_weight_key)
        if hook_fn:
            index = hook_fn(index, list(keras_variable.shape))
        index = np.asarray(index)
        if tuple(index.shape) != tuple(keras_variable.shape):
            raise HfExportError(f"{hf_weight_key} reads as shape {index.shape}; "
                                f"{keras_variable.path} has {tuple(keras_variable.shape)}")
        self.ports.append((keras_variable, hf_weight_key, index))


def invert_importer(backbone, converter, shapes):
    """name -> array of the published tensors keras-hub's `converter` would read
    into `backbone`, each element put where the importer takes it from."""
    loader = IndexLoader(shapes)
    converter(loader)
    ported = {id(v) for v, _, _ in loader.ports}
    missing = [v.path for v in backbone.weights if id(v) not in ported]
    if missing:
        raise HfExportError(f"keras-hub's importer reads nothing into {', '.join(missing)}")
    tensors, counts = {}, {}
    for variable, name, index in loader.ports:
        value = keras.ops.convert_to_numpy(variable.value)
        if name not in tensors:
            tensors[name] = np.zeros(shapes[name], value.dtype)
            counts[name] = np.zeros(math.prod(shapes[name]), np.int64)
        tensors[name].reshape(-1)[index.reshape(-1)] = value.reshape(-1)
        np.add.at(counts[name], index.reshape(-1), 1)
    unwritten = sorted(set(shapes) - set(tensors))
    twice = [name for name, count in counts.items() if (count != 1).any()]
    if unwritten or twice:
        raise HfExportError("the inverted name map does not cover each published element "
                            f"once: unwritten {unwritten}, written twice or never {twice}")
    return tensors


def published_tensors(backbone, kind, hf_config):
    """name -> numpy array of `backbone`'s weights in the published layout of `kind`."""
    if kind == "t5":
        return {name: np.ascontiguousarray(keras.ops.convert_to_numpy(variable.value).T
                                           if transpose else
                                           keras.ops.convert_to_numpy(variable.value))
                for variable, name, transpose in hf_t5.weight_map(backbone)}
    from keras_hub.src.utils.transformers import convert_bert, convert_gpt2
    if kind == "bert":
        return invert_importer(backbone, lambda loader: convert_bert.convert_weights(
            backbone, loader, hf_config), _bert_shapes(hf_config))
    tensors = invert_importer(backbone, lambda loader: convert_gpt2.convert_weights(
        backbone, loader, hf_config), _gpt2_shapes(hf_config))
    return {f"transformer.{name}": value for name, value in tensors.items()}


# -- config.json ------------------------------------------------------------------


def activation_name(function):
    """The transformers name of a feed-forward activation, found by evaluating it:
    'gelu' (erf), 'gelu_new' (tanh approximation) or 'relu'."""
    x = np.linspace(-6, 6, 481).astype(np.float32)
    y = keras.ops.convert_to_numpy(function(keras.ops.convert_to_tensor(x))).astype(np.float64)
    x = x.astype(np.float64)
    erf = np.vectorize(math.erf)
    candidates = {"gelu": 0.5 * x * (1 + erf(x / math.sqrt(2))),
                  "gelu_new": 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) *
                                                     (x + 0.044715 * x ** 3))),
                  "relu": np.maximum(x, 0)}
    for name, expected in candidates.items():
        if np.abs(y - expected).max() < 1e-5:
            return name
    raise HfExportError(f"the feed-forward activation {function} is none of "
                        f"{', '.join(candidates)}")


def hf_config(kind, fields, backbone, encoder):
    """The config.json of a run: `fields` its model_config, `encoder` its TextEncoder."""
    dropout = fields.get("dropout", 0.1)
    vocab_size = int(backbone.token_embedding.embeddings.shape[0])
    if kind == "bert":
        return {"architectures": ["BertModel"], "model_type": "bert",
                "vocab_size": vocab_size, "hidden_size": fields["hidden_dim"],
                "num_hidden_layers": fields["num_layers"],
                "num_attention_heads": fields["num_heads"],
                "intermediate_size": fields["intermediate_dim"],
                "hidden_act": activation_name(backbone.transformer_layers[0].activation),
                "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout,
                "max_position_embeddings": fields["max_sequence_length"],
                "type_vocab_size": fields.get("num_segments", 2), "initializer_range": 0.02,
                "layer_norm_eps": fields.get("layer_norm_epsilon", 1e-12),
                "pad_token_id": encoder.pad_id,
                "position_embedding_type": "absolute", "torch_dtype": "float32"}
    if kind == "gpt2":
        end = encoder.eos_id
        return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
                "vocab_size": vocab_size, "n_positions": fields["max_sequence_length"],
                "n_ctx": fields["max_sequence_length"], "n_embd": fields["hidden_dim"],
                "n_layer": fields["num_layers"], "n_head": fields["num_heads"],
                "n_inner": fields["intermediate_dim"],
                "activation_function": activation_name(
                    backbone.transformer_layers[0].activation),
                "resid_pdrop": dropout, "embd_pdrop": dropout, "attn_pdrop": dropout,
                "layer_norm_epsilon": 1e-5, "initializer_range": 0.02,
                "scale_attn_weights": True, "tie_word_embeddings": True,
                "bos_token_id": end, "eos_token_id": end, "torch_dtype": "float32"}
    activation = fields.get("activation", "relu")
    base = "relu" if activation == "relu" else \
        "gelu" if activation == hf_t5.GELU_TANH else None
    if base is None:
        raise HfExportError(f"T5 activation {activation!r} has no feed_forward_proj; "
                            "relu and gelu (tanh) have")
    gated = bool(fields.get("use_gated_activation", False))
    return {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5",
            "vocab_size": vocab_size, "d_model": fields["hidden_dim"],
            "d_kv": fields.get("key_value_dim") or fields["hidden_dim"] // fields["num_heads"],
            "d_ff": fields["intermediate_dim"], "num_layers": fields["num_layers"],
            "num_decoder_layers": fields["num_layers"], "num_heads": fields["num_heads"],
            "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
            "feed_forward_proj": ("gated-" if gated else "") + base,
            "tie_word_embeddings": bool(fields.get("tie_embedding_weights", True)),
            "dropout_rate": dropout, "layer_norm_epsilon": 1e-6,
            "pad_token_id": encoder.pad_id, "eos_token_id": encoder.eos_id,
            "decoder_start_token_id": encoder.bos_id, "torch_dtype": "float32"}


# -- tokenizer files --------------------------------------------------------------


def tokenizer_files(kind, encoder, lowercase, max_length):
    """{file name: bytes} of the tokenizer files of a run's encoder."""
    def as_json(value):
        return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    vocab = fileio.read_bytes(encoder.vocab_path)
    if kind == "bert":
        special = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                   "cls_token": "[CLS]", "mask_token": "[MASK]"}
        return {"vocab.txt": vocab, "special_tokens_map.json": as_json(special),
                "tokenizer_config.json": as_json({
                    "tokenizer_class": "BertTokenizer", "do_lower_case": bool(lowercase),
                    "do_basic_tokenize": True, "tokenize_chinese_chars": True,
                    "strip_accents": None, "model_max_length": max_length, **special})}
    if kind == "gpt2":
        raw = json.loads(vocab.decode("utf-8"))
        special = {token: encoder.vocabulary[encoder.eos_id]
                   for token in ("bos_token", "eos_token", "unk_token")}
        return {"vocab.json": as_json(raw["vocabulary"]),
                "merges.txt": ("#version: 0.2\n" + "".join(m + "\n" for m in raw["merges"]))
                .encode("utf-8"),
                "special_tokens_map.json": as_json(special),
                "tokenizer_config.json": as_json({
                    "tokenizer_class": "GPT2Tokenizer", "add_prefix_space": False,
                    "model_max_length": max_length, **special})}
    special = {"pad_token": encoder.vocabulary[encoder.pad_id],
               "eos_token": encoder.vocabulary[encoder.eos_id],
               "unk_token": encoder.vocabulary[encoder.unk_id]}
    sentinels = [encoder.vocabulary[i] for i in encoder.sentinel_ids]
    return {"spiece.model": vocab, "special_tokens_map.json": as_json(special),
            "tokenizer_config.json": as_json({
                # The sentinels, where the run has them, are pieces of spiece.model already.
                "tokenizer_class": "T5Tokenizer", "extra_ids": 0,
                "additional_special_tokens": sentinels, **special})}


# -- the export -------------------------------------------------------------------


def restored_run(model_dir, checkpoint=None, average_checkpoints=0):
    """(config, AssembledRun, checkpoint paths, merged LoRA layers) of the latest (or
    given) checkpoint of model_dir, or the mean of the last `average_checkpoints`
    ending there (zoo.evaluate.averaging), LoRA adapters folded into the weights."""
    from zoo.evaluate.averaging import last_checkpoints, restore_average
    from zoo.train.lora import merge_adapters
    config = load_run_config(model_dir)
    checkpoint = checkpoint or latest_restorable(model_dir)
    if not checkpoint:
        raise FileNotFoundError(f"'{model_dir}' has no checkpoint to export; train first")
    paths = last_checkpoints(model_dir, average_checkpoints, checkpoint) \
        if average_checkpoints > 1 else [checkpoint]
    run = assemble(config, model_dir)
    restore_average(run.model, paths)  # (one path: a plain restore)
    return config, run, paths, merge_adapters(run.model)


def next_version(export_dir):
    versions = [int(n) for n in fileio.listdir(export_dir) if n.isdigit()] \
        if fileio.exists(export_dir) else []
    return max(versions, default=0) + 1


def sentence_transformers_files(config, hidden_dim):
    """For an `embedding` run, sentence-transformers' `modules.json` and
    `1_Pooling/config.json` (its pooling), so that the directory embeds as the run
    does, there and as an --init_checkpoint; nothing for other tasks."""
    pooling = config.task_config.get("pooling") if config.task == "embedding" else None
    if pooling not in ("mean", "cls", "max"):
        return {}
    modes = {f"pooling_mode_{mode}_tokens": mode == pooling for mode in ("mean", "max")}
    pooling_config = {"word_embedding_dimension": hidden_dim,
                      "pooling_mode_cls_token": pooling == "cls", **modes,
                      "pooling_mode_mean_sqrt_len_tokens": False}
    modules = [{"idx": index, "name": str(index), "path": path,
                "type": f"sentence_transformers.models.{kind}"}
               for index, (path, kind) in enumerate((("", "Transformer"), ("1_Pooling", "Pooling"),
                                                     ("2_Normalize", "Normalize")))]
    return {"modules.json": (json.dumps(modules, indent=2) + "\n").encode("utf-8"),
            "1_Pooling/config.json": (json.dumps(pooling_config, indent=2) + "\n").encode("utf-8")}


def export_transformers(model_dir, export_dir, checkpoint=None, average_checkpoints=0):
    """Writes the backbone of the latest (or given) checkpoint of model_dir (or the
    mean of the last `average_checkpoints` ending there) to `<export_dir>/<version>/`
    (atomically; versions count up from 1) as a Hugging Face directory; returns
    its path."""
    config = load_run_config(model_dir)
    kind = model_type(config)
    config, run, checkpoints, merged = restored_run(model_dir, checkpoint, average_checkpoints)
    fields = dict(config.model_config)
    hf = hf_config(kind, fields, run.backbone, run.encoder)
    tensors = published_tensors(run.backbone, kind, hf)
    from safetensors.numpy import save
    files = {"config.json": (json.dumps(hf, indent=2) + "\n").encode("utf-8"),
             "model.safetensors": save(tensors, metadata=SAFETENSORS_METADATA),
             **tokenizer_files(kind, run.encoder, config.lowercase,
                               fields.get("max_sequence_length", config.seq_len))}
    files.update(sentence_transformers_files(config, fields.get("hidden_dim", 0)))
    backbone_ids = {id(v) for v in run.backbone.weights}
    files[METADATA_FILE] = (json.dumps({
        "format": "transformers", "model_type": kind, "model": config.model,
        "task": config.task, "checkpoint": os.path.basename(checkpoints[-1]),
        "tensors": len(tensors), "values": sum(int(v.size) for v in tensors.values()),
        "lora_merged_layers": merged,
        "not_exported": [v.path for v in run.model.weights if id(v) not in backbone_ids],
        **({"averaged": [os.path.basename(p) for p in checkpoints]}
           if len(checkpoints) > 1 else {})}, indent=2) + "\n").encode("utf-8")
    fileio.makedirs(export_dir)
    path = fileio.join(export_dir, str(next_version(export_dir)))
    with atomic_directory(path) as tmp:
        for name, data in files.items():
            if "/" in name:
                fileio.makedirs(fileio.join(tmp, name.rsplit("/", 1)[0]))
            with fileio.open_file(fileio.join(tmp, name), "wb") as handle:
                handle.write(data)
    return path
