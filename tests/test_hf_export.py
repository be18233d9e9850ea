"""zoo-export --format=transformers: a run's backbone as a Hugging Face directory.

Four tiny runs: BERT and GPT-2 fine-tuned from a Hugging Face directory written
from numpy (tests/test_hf_checkpoints.py), and bert_nano and gpt_nano trained
from scratch. Each export must hold the published file names and tensor names,
and `--init_checkpoint` of it must give every backbone tensor back bit-equal;
BERT's must also agree with the numpy reference (tests/bert_reference.py).
"""
import dataclasses
import json
import os
import types

import numpy as np
import pytest
from absl import flags
from safetensors.numpy import load_file

from bert_reference import bert_hidden_states
from flagrun import train
from test_hf_checkpoints import RUN, bert_dir, gpt2_dir, restore_line, sentences, t5_dir
from zoo.cli import export as export_cli
from zoo.cli.common import UsageError
from zoo.serve import hf_export

QUICK = [*RUN, "--noexport"]
TEXTS = ["the film was good", "a dull plot and bad actors", "music", "the story",
         "great actors with a good story and the music was great"]


def zoo_export(*args):
    """Runs zoo-export's main with these flags (absl's flags reset first)."""
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["zoo-export", *args])
    return export_cli.main(["zoo-export"])


def reimported(path, model_dir):
    """The --init_checkpoint path: a backbone of the run's --model, sized by the
    export's config.json, initialised from it; and the RestoreReport."""
    from plugins import MODELS
    from zoo.run_config import load_run_config
    from zoo.train.initialization import initialize_backbone, source_model_config
    config = load_run_config(model_dir)
    spec = MODELS.get(config.model)
    model_config = source_model_config(path, spec, type(spec.config)(**config.model_config))
    backbone = spec.builder(model_config)
    return backbone, initialize_backbone(backbone, backbone, path, spec.family)


def assert_bit_equal_round_trip(model_dir, path):
    """Every backbone tensor of the run's checkpoint comes back bit-equal."""
    _, run, _, _ = hf_export.restored_run(model_dir)
    backbone, report = reimported(path, model_dir)
    assert report.unmatched == [] and report.new == []
    assert len(report.restored) == len(run.backbone.weights) == len(backbone.weights)
    for original, restored in zip(run.backbone.weights, backbone.weights):
        # (layer names may carry a per-process counter, t5_layer_norm_30)
        assert original.path.rsplit("/", 1)[-1] == restored.path.rsplit("/", 1)[-1]
        np.testing.assert_array_equal(restored.numpy(), original.numpy(), err_msg=original.path)
    return run, backbone


def written(path):
    return sorted(os.listdir(path))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "train.tsv").write_text("sentence\tlabel\n" + "".join(
        f"{s}\t{'pos' if i % 2 else 'neg'}\n" for i, s in enumerate(sentences(40, 1))))
    (root / "train.txt").write_text("\n".join(sentences(80, 2)) + "\n")
    return root


@pytest.fixture(scope="module")
def bert_from_hf(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("bert_hf")
    directory, tensors = bert_dir(root / "hf")
    model_dir = str(root / "run")
    train(f"--model_dir={model_dir}", "--model=bert_base", "--task=classification",
          f"--train_data={data / 'train.tsv'}", f"--init_checkpoint={directory}", *QUICK)
    return types.SimpleNamespace(directory=directory, tensors=tensors, model_dir=model_dir)


@pytest.fixture(scope="module")
def gpt2_from_hf(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("gpt2_hf")
    directory, tensors = gpt2_dir(root / "hf")
    model_dir = str(root / "run")
    train(f"--model_dir={model_dir}", "--model=gpt_nano", "--task=clm",
          f"--train_data={data / 'train.txt'}", f"--init_checkpoint={directory}",
          "--task_config=max_new_tokens=4", *QUICK)
    return types.SimpleNamespace(directory=directory, tensors=tensors, model_dir=model_dir)


# -- fine-tuned from a Hugging Face directory -----------------------------------


def test_bert_fine_tuned_from_hf_exports_back_and_reimports_bit_equal(bert_from_hf, capsys):
    model_dir = bert_from_hf.model_dir
    zoo_export(f"--model_dir={model_dir}", "--format=transformers")
    output = capsys.readouterr().out
    path = os.path.join(model_dir, "transformers", "1")  # the default --export_dir
    assert f"export: {path}" in output and "weights: bert backbone" in output
    assert "not exported (the task head)" in output
    assert written(path) == ["config.json", "model.safetensors", "special_tokens_map.json",
                             "tokenizer_config.json", "vocab.txt", hf_export.METADATA_FILE]
    # the published names: those of the source without its `bert.` prefix and head
    tensors = load_file(os.path.join(path, "model.safetensors"))
    assert set(tensors) == {k[len("bert."):] for k in bert_from_hf.tensors
                            if k.startswith("bert.")}
    config = json.load(open(os.path.join(path, "config.json"), encoding="utf-8"))
    source = json.load(open(os.path.join(bert_from_hf.directory, "config.json"),
                            encoding="utf-8"))
    for key in ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "vocab_size", "max_position_embeddings",
                "type_vocab_size", "layer_norm_eps"):
        assert config[key] == source[key], key
    with open(os.path.join(path, "vocab.txt"), encoding="utf-8") as exported, \
            open(os.path.join(bert_from_hf.directory, "vocab.txt"), encoding="utf-8") as original:
        assert exported.read() == original.read()
    assert json.load(open(os.path.join(path, "tokenizer_config.json")))["do_lower_case"] is True
    run, backbone = assert_bit_equal_round_trip(model_dir, path)
    # the numpy reference on the exported files agrees with the re-imported backbone
    token_ids, segment_ids, padding_mask = (t.numpy() for t in run.encoder.encode(
        np.array(TEXTS, dtype=object)))
    reference = bert_hidden_states(tensors, config, token_ids, segment_ids, padding_mask)
    hidden = backbone({"token_ids": token_ids, "segment_ids": segment_ids,
                       "padding_mask": padding_mask})["sequence_output"].numpy()
    mask = padding_mask.astype(bool)
    difference = np.abs(hidden[mask] - reference[mask]).max()
    print(f"bert round trip: reference vs re-imported max abs difference {difference:.2e}")
    assert difference < 1e-4


def test_the_export_is_an_init_checkpoint_for_zoo_train(bert_from_hf, data, capsys, tmp_path):
    """The chain: Hugging Face -> fine-tune -> export -> fine-tune again."""
    path = hf_export.export_transformers(bert_from_hf.model_dir, str(tmp_path / "hf"))
    assert path.endswith("/1")
    train(f"--model_dir={tmp_path / 'again'}", "--model=bert_tiny", "--task=classification",
          f"--train_data={data / 'train.tsv'}", f"--init_checkpoint={path}", *QUICK)
    assert "unmatched 0" in restore_line(capsys.readouterr().out)
    config = json.load(open(tmp_path / "again" / "config.json", encoding="utf-8"))
    assert (config["model_config"]["hidden_dim"], config["tokenizer"]) == (32, "wordpiece")


def test_gpt2_fine_tuned_from_hf_exports_back_and_reimports_bit_equal(gpt2_from_hf, tmp_path):
    path = hf_export.export_transformers(gpt2_from_hf.model_dir, str(tmp_path / "hf"))
    assert written(path) == ["config.json", "merges.txt", "model.safetensors",
                             "special_tokens_map.json", "tokenizer_config.json", "vocab.json",
                             hf_export.METADATA_FILE]
    tensors = load_file(os.path.join(path, "model.safetensors"))
    assert set(tensors) == set(gpt2_from_hf.tensors)  # GPT2LMHeadModel's `transformer.` names
    config = json.load(open(os.path.join(path, "config.json"), encoding="utf-8"))
    assert config["activation_function"] == "gelu_new" and config["n_inner"] == 128
    for name in ("vocab.json", "merges.txt"):
        with open(os.path.join(path, name), encoding="utf-8") as exported, \
                open(os.path.join(gpt2_from_hf.directory, name), encoding="utf-8") as original:
            read = json.load if name.endswith(".json") else lambda f: f.read().splitlines()
            assert read(exported) == read(original), name
    special = json.load(open(os.path.join(path, "special_tokens_map.json"), encoding="utf-8"))
    assert special["eos_token"] == "<|endoftext|>"
    assert config["eos_token_id"] == json.load(open(os.path.join(path, "vocab.json")))[
        "<|endoftext|>"]
    assert_bit_equal_round_trip(gpt2_from_hf.model_dir, path)


def test_t5_fine_tuned_from_hf_exports_back_and_reimports_bit_equal(data, tmp_path):
    """T5 v1.1 (gated-gelu, untied lm_head), by zoo.models.hf_t5's name map."""
    lines = sentences(60, 3)
    directory, source = t5_dir(tmp_path / "t5", lines)
    (tmp_path / "src.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "tgt.txt").write_text("\n".join(" ".join(reversed(s.split())) for s in lines)
                                      + "\n")
    model_dir = str(tmp_path / "run")
    train(f"--model_dir={model_dir}", "--model=t5_small", "--task=translation",
          f"--train_data={tmp_path}/src.txt,{tmp_path}/tgt.txt",
          f"--init_checkpoint={directory}", "--task_config=max_new_tokens=4", *QUICK)
    path = hf_export.export_transformers(model_dir, str(tmp_path / "hf"))
    assert "spiece.model" in written(path)
    with open(os.path.join(path, "spiece.model"), "rb") as exported, \
            open(os.path.join(directory, "spiece.model"), "rb") as original:
        assert exported.read() == original.read()
    tensors = load_file(os.path.join(path, "model.safetensors"))
    # the published names, less the two copies of `shared` transformers ties itself
    assert set(tensors) == set(source) - {"encoder.embed_tokens.weight",
                                          "decoder.embed_tokens.weight"}
    config = json.load(open(os.path.join(path, "config.json"), encoding="utf-8"))
    original = json.load(open(os.path.join(directory, "config.json"), encoding="utf-8"))
    for key in ("d_model", "d_kv", "d_ff", "num_layers", "num_heads", "feed_forward_proj",
                "tie_word_embeddings", "vocab_size", "pad_token_id", "eos_token_id",
                "decoder_start_token_id"):
        assert config[key] == original[key], key
    assert_bit_equal_round_trip(model_dir, path)


# -- trained from scratch -------------------------------------------------------


def test_bert_trained_from_scratch_exports_and_reimports_bit_equal(data, tmp_path):
    model_dir = str(tmp_path / "run")
    train(f"--model_dir={model_dir}", "--model=bert_nano", "--task=mlm",
          f"--train_data={data / 'train.txt'}", "--vocab_size=60", "--nolowercase", *QUICK,
          "--train_steps=4", "--steps_per_loop=2", "--checkpoint_every=2")
    path = hf_export.export_transformers(model_dir, str(tmp_path / "hf"))
    config = json.load(open(os.path.join(path, "config.json"), encoding="utf-8"))
    assert (config["hidden_size"], config["num_hidden_layers"],
            config["max_position_embeddings"]) == (64, 2, 128)
    with open(os.path.join(path, "vocab.txt"), encoding="utf-8") as exported:
        assert len(exported.read().splitlines()) == config["vocab_size"]
    tokenizer = json.load(open(os.path.join(path, "tokenizer_config.json"), encoding="utf-8"))
    assert tokenizer["do_lower_case"] is False and tokenizer["cls_token"] == "[CLS]"
    metadata = json.load(open(os.path.join(path, hf_export.METADATA_FILE), encoding="utf-8"))
    assert metadata["task"] == "mlm" and metadata["not_exported"]  # the MLM head
    assert_bit_equal_round_trip(model_dir, path)
    # --average_checkpoints=2: the mean of ckpt-2 and ckpt-4
    averaged = hf_export.export_transformers(model_dir, str(tmp_path / "hf"),
                                             average_checkpoints=2)
    metadata = json.load(open(os.path.join(averaged, hf_export.METADATA_FILE)))
    assert averaged.endswith("/2") and metadata["averaged"] == ["ckpt-2", "ckpt-4"]
    tensors = {name: load_file(os.path.join(p, "model.safetensors"))
               for name, p in (("last", path), ("mean", averaged))}
    key = "encoder.layer.0.attention.self.query.weight"
    assert not np.array_equal(tensors["last"][key], tensors["mean"][key])
    _, run, _, _ = hf_export.restored_run(model_dir, average_checkpoints=2)
    backbone, _ = reimported(averaged, model_dir)
    for original, restored in zip(run.backbone.weights, backbone.weights):
        np.testing.assert_array_equal(restored.numpy(), original.numpy())


def test_gpt_trained_from_scratch_with_gpt2_tokenizer_files(data, tmp_path):
    from zoo.data.tokenizers.bpe import write_bpe_file
    directory, _ = gpt2_dir(tmp_path / "gpt2_files")  # only its tokenizer files are used
    vocab = write_bpe_file(os.path.join(directory, "vocab.json"),
                           os.path.join(directory, "merges.txt"), str(tmp_path / "bpe.json"))
    model_dir = str(tmp_path / "run")
    train(f"--model_dir={model_dir}", "--model=gpt_nano", "--task=clm",
          f"--train_data={data / 'train.txt'}", "--tokenizer=byte_bpe", f"--vocab={vocab}",
          "--task_config=max_new_tokens=4", *QUICK)
    path = hf_export.export_transformers(model_dir, str(tmp_path / "hf"))
    assert "vocab.json" in written(path) and "merges.txt" in written(path)
    assert_bit_equal_round_trip(model_dir, path)


# -- the CLI: versions, directories, refusals -----------------------------------


def test_versions_count_up_and_formats_do_not_share_a_directory(bert_from_hf, tmp_path,
                                                                capsys):
    target = str(tmp_path / "hf")
    zoo_export(f"--model_dir={bert_from_hf.model_dir}", "--format=transformers",
               f"--export_dir={target}")
    zoo_export(f"--model_dir={bert_from_hf.model_dir}", "--format=transformers",
               f"--export_dir={target}")
    assert written(target) == ["1", "2"]
    assert capsys.readouterr().out.count("export: ") == 2
    serving = tmp_path / "serving" / "1"
    serving.mkdir(parents=True)
    (serving / "saved_model.pb").write_bytes(b"")
    with pytest.raises(UsageError, match="holds --format=saved_model versions"):
        zoo_export(f"--model_dir={bert_from_hf.model_dir}", "--format=transformers",
                   f"--export_dir={tmp_path / 'serving'}")
    with pytest.raises(UsageError, match="holds --format=transformers versions"):
        zoo_export(f"--model_dir={bert_from_hf.model_dir}", f"--export_dir={target}")
    with pytest.raises(UsageError, match="--quantize apply to --format=saved_model only"):
        zoo_export(f"--model_dir={bert_from_hf.model_dir}", "--format=transformers",
                   "--quantize=int8", f"--export_dir={tmp_path / 'other'}")
    assert not os.path.exists(tmp_path / "other")


def _config(model, tokenizer="wordpiece", **fields):
    from plugins import MODELS, load_plugins
    load_plugins()
    model_config = {**dataclasses.asdict(MODELS.get(model).config), **fields}
    return types.SimpleNamespace(model=model, tokenizer=tokenizer, model_config=model_config)


@pytest.mark.parametrize("config, message", [
    (("bert_nano", "wordpiece", {"normalize_first": True}), "pre-LN"),
    (("bert_nano", "sentencepiece_unigram", {}), "--tokenizer=wordpiece"),
    (("gpt_nano", "sentencepiece_bpe", {}), "--tokenizer=byte_bpe"),
    (("gpt_nano", "byte_bpe", {"intermediate_dim": 100}), "4 x hidden_dim"),
    (("transformer_nano", "sentencepiece_unigram", {}), "no Hugging Face layout"),
], ids=["prenorm", "bert-spm", "gpt-spm", "gpt-ffn", "transformer"])
def test_what_cannot_be_exported_is_refused_with_the_reason(config, message):
    model, tokenizer, fields = config
    with pytest.raises(hf_export.HfExportError, match=message):
        hf_export.model_type(_config(model, tokenizer, **fields))


def test_the_inverse_name_map_is_checked_element_by_element():
    """A published element that two Keras elements claim is an error, not a silent
    overwrite."""
    import keras
    loader = hf_export.IndexLoader({"w": (2, 2)})
    first, second = keras.Variable(np.zeros((2,), np.float32)), \
        keras.Variable(np.ones((2,), np.float32))
    loader.port_weight(first, "w", lambda x, _: x[0])
    loader.port_weight(second, "w", lambda x, _: x[0])  # row 0 twice, row 1 never
    backbone = types.SimpleNamespace(weights=[first, second])
    with pytest.raises(hf_export.HfExportError, match="written twice or never"):
        hf_export.invert_importer(
            backbone, lambda target: target.ports.extend(loader.ports), {"w": (2, 2)})


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_an_embedding_run_exports_its_pooling_as_sentence_transformers_does(pooling, tmp_path):
    """modules.json and 1_Pooling/config.json, read back as the run's pooling."""
    from zoo.models.hf_import import pooling_mode
    config = types.SimpleNamespace(task="embedding", task_config={"pooling": pooling})
    files = hf_export.sentence_transformers_files(config, 384)
    assert sorted(files) == ["1_Pooling/config.json", "modules.json"]
    (tmp_path / "1_Pooling").mkdir()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    assert pooling_mode(str(tmp_path)) == pooling
    assert json.loads(files["1_Pooling/config.json"])["word_embedding_dimension"] == 384
    classifier = types.SimpleNamespace(task="classification", task_config={"pooling": "mean"})
    assert hf_export.sentence_transformers_files(classifier, 384) == {}
