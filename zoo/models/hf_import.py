"""Hugging Face (transformers-format) checkpoint directories on local disk: which
ones the zoo takes, their model configuration, and their weights in a keras-hub
backbone.

A directory qualifies with `config.json` (its `model_type`: bert, gpt2 or t5),
`model.safetensors` (or sharded, with `model.safetensors.index.json`) and the
tokenizer files the zoo serves in graph: WordPiece `vocab.txt` (BERT), byte-level
BPE `vocab.json` + `merges.txt` (GPT-2), SentencePiece `spiece.model` (T5).
BERT and GPT-2 weights go through keras-hub's own converter
(`Backbone.from_preset` on the directory); T5, which keras-hub 0.32 does not
convert, through `zoo.models.hf_t5`. A `pytorch_model.bin` is refused: reading
it needs torch. A directory on gs://, s3:// or ram:// reaches this module as
a local copy (`zoo.train.initialization.local_directory`).

Example:
    >>> config = check_directory("hf/bert-base-uncased")    # fails with the reason
    >>> HF_FAMILIES[config["model_type"]], model_fields(config)["hidden_dim"]
    ('encoder', 768)
    >>> backbone = load_backbone("hf/bert-base-uncased")     # keras_hub.models.BertBackbone
"""
import json
import os

from plugins.task import DECODER, ENCODER, ENCODER_DECODER

HF_FAMILIES = {"bert": ENCODER, "gpt2": DECODER, "t5": ENCODER_DECODER}
#: The zoo config class each model_type fills (zoo.models.presets).
CONFIG_CLASSES = {"bert": "BertConfig", "gpt2": "GptConfig", "t5": "T5Config"}
#: Tokenizer files the zoo serves in graph, and the zoo tokenizer kind they make.
TOKENIZER_FILES = {"bert": ("vocab.txt",), "gpt2": ("vocab.json", "merges.txt"),
                   "t5": ("spiece.model",)}
TOKENIZER_KINDS = {"bert": "wordpiece", "gpt2": "byte_bpe", "t5": "sentencepiece_unigram"}
#: BERT's `hidden_act` -> the zoo's activation: transformers' "gelu" is the exact
#: (erf) GELU, "gelu_new" and "gelu_pytorch_tanh" the tanh approximation.
BERT_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_approximate",
                    "gelu_pytorch_tanh": "gelu_approximate", "relu": "relu"}
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
CONVERT_HINT = ("convert it to safetensors once, where torch and transformers are installed:\n"
                "    import transformers\n"
                "    model = transformers.{architecture}.from_pretrained(DIR)\n"
                "    model.save_pretrained(DIR, safe_serialization=True)   # model.safetensors")


class HfCheckpointError(ValueError):
    """A Hugging Face directory the zoo cannot take; the message says why."""


def read_config(directory):
    with open(os.path.join(directory, "config.json"), encoding="utf-8") as handle:
        return json.load(handle)


def is_hf_directory(directory):
    """Whether config.json is a transformers one (it has `model_type`)."""
    try:
        return "model_type" in read_config(directory)
    except (OSError, ValueError):
        return False


def check_directory(directory):
    """The config of a usable Hugging Face directory; HfCheckpointError otherwise."""
    config = read_config(directory)
    model_type = config.get("model_type")
    if model_type not in HF_FAMILIES:
        raise HfCheckpointError(f"'{directory}' holds a Hugging Face '{model_type}' model; the "
                                f"zoo takes {', '.join(HF_FAMILIES)}")
    if not any(os.path.exists(os.path.join(directory, f)) for f in WEIGHT_FILES):
        torch_files = [f for f in ("pytorch_model.bin", "pytorch_model.bin.index.json",
                                   "tf_model.h5") if os.path.exists(os.path.join(directory, f))]
        found = f"only {', '.join(torch_files)}" if torch_files else "no weights"
        raise HfCheckpointError(f"'{directory}' has {found}: the zoo reads model.safetensors "
                                "(no torch needed); " + CONVERT_HINT.format(
                                    architecture=(config.get("architectures") or ["AutoModel"])[0]))
    missing = [f for f in TOKENIZER_FILES[model_type]
               if not os.path.exists(os.path.join(directory, f))]
    if missing:
        present = [f for f in ("tokenizer.json", "tokenizer_config.json")
                   if os.path.exists(os.path.join(directory, f))]
        raise HfCheckpointError(
            f"'{directory}' lacks {', '.join(missing)}: the {model_type} tokenizer the zoo "
            f"serves in graph ({TOKENIZER_KINDS[model_type]}) is made from "
            f"{' + '.join(TOKENIZER_FILES[model_type])}"
            + (f" ({' and '.join(present)} alone cannot be served in graph)" if present else "")
            + "; save the slow tokenizer's files with AutoTokenizer.from_pretrained(DIR, "
            "use_fast=False).save_pretrained(DIR)")
    return config


def model_fields(config):
    """The zoo model-config fields (sizes, vocabulary) of a Hugging Face config, as
    keras-hub's converter reads them (BERT, GPT-2) or zoo.models.hf_t5 (T5)."""
    model_type = config["model_type"]
    try:
        if model_type == "t5":
            from zoo.models.hf_t5 import config_fields
            return config_fields(config)
        from keras_hub.src.utils.transformers import convert_bert, convert_gpt2
        converter = {"bert": convert_bert, "gpt2": convert_gpt2}[model_type]
        fields = dict(converter.convert_backbone_config(config))
    except KeyError as error:
        raise HfCheckpointError(f"the {model_type} config.json lacks {error}") from None
    if model_type == "bert":
        fields["num_segments"] = config.get("type_vocab_size", 2)
        act = config.get("hidden_act", "gelu")
        if act not in BERT_ACTIVATIONS:
            raise HfCheckpointError(f"the bert config.json has hidden_act '{act}'; the zoo "
                                    f"builds {', '.join(BERT_ACTIVATIONS)}")
        fields["activation"] = BERT_ACTIVATIONS[act]
        fields["layer_norm_epsilon"] = float(config.get("layer_norm_eps", 1e-12))
    return fields


def load_backbone(directory):
    """A keras-hub backbone holding the directory's weights."""
    config = check_directory(directory)
    if config["model_type"] == "t5":
        from zoo.models.hf_t5 import load_backbone as load_t5
        return load_t5(directory, config)
    import keras_hub
    return keras_hub.models.Backbone.from_preset(directory, **(
        {"num_segments": config.get("type_vocab_size", 2)} if config["model_type"] == "bert"
        else {}))


def lowercase(directory, default=True):
    """BERT's `do_lower_case` from tokenizer_config.json (`default` without one)."""
    path = os.path.join(directory, "tokenizer_config.json")
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as handle:
        return bool(json.load(handle).get("do_lower_case", default))


def pooling_mode(directory):
    """The pooling a sentence-transformers directory names in `1_Pooling/config.json`
    (mean, cls or max), or None without one (or for a mode the zoo lacks)."""
    path = os.path.join(directory, "1_Pooling", "config.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    modes = [mode for mode in ("mean", "cls", "max") if config.get(f"pooling_mode_{mode}_tokens")
             or (mode == "cls" and config.get("pooling_mode_cls_token"))]
    return modes[0] if len(modes) == 1 else None
