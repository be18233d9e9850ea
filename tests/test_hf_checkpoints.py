"""Hugging Face checkpoint directories (BERT, GPT-2, T5) as --init_checkpoint.

Each test writes a tiny transformers-format directory from numpy: config.json
with the published field names, model.safetensors with the published parameter
names, and the tokenizer files. The weights must land where they belong, a
fine-tuning run must start from them, and its export must answer raw text.
"""
import json
import os
import random

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the exported tokenizers' ops)
from safetensors.numpy import save_file

from flagrun import train
from zoo.models import hf_import, hf_t5
from zoo.train.options import UsageError

WORDS = ["the", "film", "was", "a", "story", "with", "good", "bad", "great", "dull", "plot",
         "music", "and", "actors"]
RUN = ["--global_batch_size=8", "--seq_len=16", "--train_steps=3", "--steps_per_loop=3",
       "--learning_rate=1e-3"]


def _rand(rng, *shape):
    return rng.normal(0, 0.05, shape).astype(np.float32)


def _write(directory, config, tensors, files):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    save_file(tensors, os.path.join(directory, "model.safetensors"))
    for name, text in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    return str(directory)


def bert_dir(directory, hidden=32, layers=2, heads=2, inner=64, positions=64):
    """BertForSequenceClassification-style names (a `bert.` prefix, a head the zoo ignores)."""
    rng = np.random.default_rng(0)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + ["##s", "##ing"]
    t = {"embeddings.word_embeddings.weight": _rand(rng, len(vocab), hidden),
         "embeddings.position_embeddings.weight": _rand(rng, positions, hidden),
         "embeddings.token_type_embeddings.weight": _rand(rng, 2, hidden),
         "embeddings.LayerNorm.weight": 1 + _rand(rng, hidden),
         "embeddings.LayerNorm.bias": _rand(rng, hidden),
         "pooler.dense.weight": _rand(rng, hidden, hidden), "pooler.dense.bias": _rand(rng, hidden)}
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"):
            t[p + name + ".weight"], t[p + name + ".bias"] = _rand(rng, hidden, hidden), \
                _rand(rng, hidden)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + name + ".weight"], t[p + name + ".bias"] = 1 + _rand(rng, hidden), \
                _rand(rng, hidden)
        t[p + "intermediate.dense.weight"] = _rand(rng, inner, hidden)
        t[p + "intermediate.dense.bias"] = _rand(rng, inner)
        t[p + "output.dense.weight"] = _rand(rng, hidden, inner)
        t[p + "output.dense.bias"] = _rand(rng, hidden)
    tensors = {f"bert.{k}": v for k, v in t.items()}
    tensors["classifier.weight"], tensors["classifier.bias"] = _rand(rng, 2, hidden), _rand(rng, 2)
    config = {"model_type": "bert", "architectures": ["BertForSequenceClassification"],
              "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
              "intermediate_size": inner, "vocab_size": len(vocab),
              "max_position_embeddings": positions, "type_vocab_size": 2, "hidden_act": "gelu",
              "hidden_dropout_prob": 0.1, "layer_norm_eps": 1e-12}
    return _write(directory, config, tensors, {
        "vocab.txt": "\n".join(vocab) + "\n",
        "tokenizer_config.json": json.dumps({"do_lower_case": True})}), tensors


def gpt2_dir(directory, hidden=32, layers=2, heads=2, positions=64):
    """GPT2LMHeadModel-style names (a `transformer.` prefix, tied head not stored)."""
    from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode
    rng = np.random.default_rng(1)
    byte_chars = bytes_to_unicode()[1]
    merges = ["Ġ t", "h e", "Ġt he", "Ġ a", "Ġ f", "i l", "Ġf il", "Ġfil m", "Ġ s", "o r",
              "Ġs t", "Ġst or", "Ġstor y"]
    vocab = list(dict.fromkeys(list(byte_chars) + [m.replace(" ", "") for m in merges]))
    vocab.append("<|endoftext|>")
    t = {"wte.weight": _rand(rng, len(vocab), hidden), "wpe.weight": _rand(rng, positions, hidden),
         "ln_f.weight": 1 + _rand(rng, hidden), "ln_f.bias": _rand(rng, hidden)}
    for i in range(layers):
        p = f"h.{i}."
        for name in ("ln_1", "ln_2"):
            t[p + name + ".weight"], t[p + name + ".bias"] = 1 + _rand(rng, hidden), \
                _rand(rng, hidden)
        # Conv1D weights are [in, out].
        t[p + "attn.c_attn.weight"], t[p + "attn.c_attn.bias"] = _rand(rng, hidden, 3 * hidden), \
            _rand(rng, 3 * hidden)
        t[p + "attn.c_proj.weight"], t[p + "attn.c_proj.bias"] = _rand(rng, hidden, hidden), \
            _rand(rng, hidden)
        t[p + "mlp.c_fc.weight"], t[p + "mlp.c_fc.bias"] = _rand(rng, hidden, 4 * hidden), \
            _rand(rng, 4 * hidden)
        t[p + "mlp.c_proj.weight"], t[p + "mlp.c_proj.bias"] = _rand(rng, 4 * hidden, hidden), \
            _rand(rng, hidden)
    tensors = {f"transformer.{k}": v for k, v in t.items()}
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": hidden,
              "n_layer": layers, "n_head": heads, "n_positions": positions,
              "vocab_size": len(vocab), "resid_pdrop": 0.1, "n_inner": None}
    return _write(directory, config, tensors, {
        "vocab.json": json.dumps({token: i for i, token in enumerate(vocab)}),
        "merges.txt": "#version: 0.2\n" + "\n".join(merges) + "\n"}), tensors


def spiece_model(path, lines):
    """A tiny T5-style SentencePiece model: pad 0, eos 1, unk 2, no bos."""
    import sentencepiece
    corpus = str(path) + ".txt"
    with open(corpus, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    sentencepiece.SentencePieceTrainer.train(
        input=corpus, model_prefix=str(path), vocab_size=60, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0,
        hard_vocab_limit=False, minloglevel=2)
    with open(str(path) + ".model", "rb") as handle:
        return handle.read()


def t5_dir(directory, lines, hidden=32, layers=2, heads=4, d_kv=8, d_ff=64, gated=True):
    """T5ForConditionalGeneration names; v1.1 (gated-gelu, untied lm_head) or v1.0."""
    os.makedirs(directory, exist_ok=True)
    proto = spiece_model(os.path.join(directory, "spm_train"), lines)
    with open(os.path.join(directory, "spiece.model"), "wb") as handle:
        handle.write(proto)
    import sentencepiece
    vocab_size = sentencepiece.SentencePieceProcessor(model_proto=proto).get_piece_size()
    rng = np.random.default_rng(2)
    inner = heads * d_kv
    t = {"shared.weight": _rand(rng, vocab_size, hidden) * 20}
    t["encoder.embed_tokens.weight"] = t["decoder.embed_tokens.weight"] = t["shared.weight"]
    if gated:
        t["lm_head.weight"] = _rand(rng, vocab_size, hidden)
    for stack in ("encoder", "decoder"):
        for i in range(layers):
            attentions = [("0", "SelfAttention")] + ([("1", "EncDecAttention")]
                                                      if stack == "decoder" else [])
            for index, name in attentions:
                p = f"{stack}.block.{i}.layer.{index}."
                for proj in "qkv":
                    t[f"{p}{name}.{proj}.weight"] = _rand(rng, inner, hidden)
                t[f"{p}{name}.o.weight"] = _rand(rng, hidden, inner)
                t[f"{p}layer_norm.weight"] = 1 + _rand(rng, hidden)
                if i == 0 and name == "SelfAttention":
                    t[f"{p}{name}.relative_attention_bias.weight"] = _rand(rng, 32, heads)
            p = f"{stack}.block.{i}.layer.{len(attentions)}."
            for name in (("wi_0", "wi_1") if gated else ("wi",)):
                t[f"{p}DenseReluDense.{name}.weight"] = _rand(rng, d_ff, hidden)
            t[f"{p}DenseReluDense.wo.weight"] = _rand(rng, hidden, d_ff)
            t[f"{p}layer_norm.weight"] = 1 + _rand(rng, hidden)
        t[f"{stack}.final_layer_norm.weight"] = 1 + _rand(rng, hidden)
    config = {"model_type": "t5", "architectures": ["T5ForConditionalGeneration"],
              "d_model": hidden, "d_kv": d_kv, "d_ff": d_ff, "num_layers": layers,
              "num_decoder_layers": layers, "num_heads": heads,
              "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
              "feed_forward_proj": "gated-gelu" if gated else "relu",
              "tie_word_embeddings": not gated, "vocab_size": vocab_size, "dropout_rate": 0.1,
              "layer_norm_epsilon": 1e-6, "decoder_start_token_id": 0, "eos_token_id": 1,
              "pad_token_id": 0}
    return _write(directory, config, {k: np.ascontiguousarray(v) for k, v in t.items()}, {}), t


def sentences(count, seed):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 6))) for _ in range(count)]


def restore_line(output):
    (line,) = [line for line in output.splitlines() if line.startswith("init from")]
    return line


# -- weights land where they belong ---------------------------------------------


def test_bert_weights_land_where_they_belong(tmp_path):
    directory, tensors = bert_dir(tmp_path / "bert")
    backbone = hf_import.load_backbone(directory)
    np.testing.assert_array_equal(backbone.token_embedding.embeddings.numpy()[7],
                                  tensors["bert.embeddings.word_embeddings.weight"][7])
    attention = backbone.get_layer("transformer_layer_1")._self_attention_layer
    query = tensors["bert.encoder.layer.1.attention.self.query.weight"]  # [out, in]
    np.testing.assert_array_equal(attention.query_dense.kernel.numpy(),
                                  query.T.reshape(32, 2, 16))
    fields = hf_import.model_fields(hf_import.read_config(directory))
    assert (fields["hidden_dim"], fields["num_layers"], fields["num_heads"],
            fields["intermediate_dim"], fields["num_segments"]) == (32, 2, 2, 64, 2)
    assert fields["layer_norm_epsilon"] == 1e-12
    other = dict(hf_import.read_config(directory), layer_norm_eps=1e-5)
    assert hf_import.model_fields(other)["layer_norm_epsilon"] == 1e-5  # built as the checkpoint


def test_gpt2_weights_land_where_they_belong(tmp_path):
    directory, tensors = gpt2_dir(tmp_path / "gpt2")
    backbone = hf_import.load_backbone(directory)
    np.testing.assert_array_equal(backbone.token_embedding.embeddings.numpy()[260],
                                  tensors["transformer.wte.weight"][260])
    attention = backbone.transformer_layers[0]._self_attention_layer
    c_attn = tensors["transformer.h.0.attn.c_attn.weight"]  # Conv1D: [in, 3 * out]
    np.testing.assert_array_equal(attention.value_dense.kernel.numpy(),
                                  c_attn[:, 64:].reshape(32, 2, 16))


@pytest.mark.parametrize("gated", [True, False], ids=["v1.1", "v1.0"])
def test_t5_weights_land_where_they_belong(tmp_path, gated):
    directory, tensors = t5_dir(tmp_path / "t5", sentences(50, 0), gated=gated)
    backbone = hf_import.load_backbone(directory)
    assert backbone.use_gated_activation is gated
    assert backbone.tie_embedding_weights is not gated
    np.testing.assert_array_equal(backbone.token_embedding.embeddings.numpy()[5],
                                  tensors["shared.weight"][5])
    layer = backbone.decoder_transformer_layers[1]
    np.testing.assert_array_equal(layer.cross_attention.key_projector.kernel.numpy(),
                                  tensors["decoder.block.1.layer.1.EncDecAttention.k.weight"].T)
    np.testing.assert_array_equal(
        backbone.encoder_transformer_layers[0].self_attention.relative_attention_bias.numpy(),
        tensors["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"])
    np.testing.assert_array_equal(backbone.decoder_layer_norm.weight.numpy(),
                                  tensors["decoder.final_layer_norm.weight"])
    if gated:
        np.testing.assert_array_equal(layer.gate_projector.kernel.numpy(),
                                      tensors["decoder.block.1.layer.2.DenseReluDense.wi_1.weight"].T)
        np.testing.assert_array_equal(backbone.token_embedding.reverse_embeddings.numpy(),
                                      tensors["lm_head.weight"].T)
    # every mapped name exists in the file, and the map covers every backbone weight
    mapped = hf_t5.weight_map(backbone)
    assert len(mapped) == len(backbone.weights)
    assert {name for _, name, _ in mapped} <= set(tensors)


def test_t5_missing_tensor_is_named(tmp_path):
    directory, tensors = t5_dir(tmp_path / "t5", sentences(50, 0))
    del tensors["decoder.final_layer_norm.weight"]
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()},
              os.path.join(directory, "model.safetensors"))
    with pytest.raises(hf_t5.T5ImportError, match="decoder.final_layer_norm.weight"):
        hf_import.load_backbone(directory)


# -- refusals, before any training --------------------------------------------


def test_pytorch_bin_only_is_refused_with_how_to_convert(tmp_path):
    directory = tmp_path / "bert_bin"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": 9}))
    (directory / "pytorch_model.bin").write_bytes(b"\x80\x02not a real pickle")
    (directory / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
    with pytest.raises(UsageError, match=r"(?s)pytorch_model\.bin.*safe_serialization=True"):
        train(f"--model_dir={tmp_path}/run", "--model=bert_tiny", "--task=classification",
              f"--init_checkpoint={directory}", *RUN)
    assert not os.path.exists(tmp_path / "run" / "config.json")


def test_tokenizer_the_zoo_cannot_serve_is_refused(tmp_path):
    directory, _ = bert_dir(tmp_path / "bert")
    os.remove(os.path.join(directory, "vocab.txt"))
    with open(os.path.join(directory, "tokenizer.json"), "w", encoding="utf-8") as handle:
        handle.write("{}")
    with pytest.raises(UsageError, match=r"(?s)lacks vocab\.txt.*tokenizer\.json"):
        train(f"--model_dir={tmp_path}/run", "--model=bert_tiny", "--task=classification",
              f"--init_checkpoint={directory}", *RUN)


def test_family_mismatch_is_refused(tmp_path):
    directory, _ = gpt2_dir(tmp_path / "gpt2")
    with pytest.raises(Exception, match="family"):
        train(f"--model_dir={tmp_path}/run", "--model=bert_tiny", "--task=mlm",
              f"--init_checkpoint={directory}", *RUN)


def test_the_joined_gpt2_tokenizer_file_is_removed_at_exit(tmp_path):
    """GPT-2's vocab.json and merges.txt are joined into a temporary bpe.json; the
    process that made it removes it when it exits."""
    import subprocess
    import sys
    directory, _ = gpt2_dir(tmp_path / "gpt2")
    code = ("from zoo.train.initialization import source_vocab; import os; "
            f"path = source_vocab({str(directory)!r}); assert os.path.isfile(path); print(path)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip().splitlines()[-1]
    assert path.endswith("bpe.json") and not os.path.exists(os.path.dirname(path))


# -- fine-tuning from the file, and serving raw text ----------------------------


def _export(model_dir):
    return tf.saved_model.load(os.path.join(model_dir, "export", "1"))


def test_bert_directory_fine_tunes_a_classifier_and_serves_text(tmp_path, capsys):
    directory, tensors = bert_dir(tmp_path / "bert")
    data = tmp_path / "train.tsv"
    rng = random.Random(0)
    data.write_text("sentence\tlabel\n" + "".join(
        f"{s}\t{rng.choice(['pos', 'neg'])}\n" for s in sentences(40, 1)))
    model_dir = str(tmp_path / "run")
    # --model=bert_base: any BERT size; the sizes come from config.json
    train(f"--model_dir={model_dir}", "--model=bert_base", "--task=classification",
          f"--train_data={data}", f"--init_checkpoint={directory}", *RUN)
    output = capsys.readouterr().out
    assert "unmatched 0" in restore_line(output)
    config = json.loads(open(os.path.join(model_dir, "config.json"), encoding="utf-8").read())
    assert (config["model_config"]["hidden_dim"], config["model_config"]["vocabulary_size"],
            config["tokenizer"]) == (32, 21, "wordpiece")
    served = _export(model_dir).signatures["serving_default"](
        text=tf.constant(["the film was good", "dull plot"]))
    assert all(v.shape[0] == 2 for v in served.values())
    tokens = _export(model_dir).signatures["tokenize"](text=tf.constant(["the films"]))
    assert [t.decode() for t in tokens["tokens"].numpy()[0][:4]] == ["[CLS]", "the", "film", "##s"]


def test_gpt2_directory_fine_tunes_clm_and_serves_text(tmp_path, capsys):
    directory, _ = gpt2_dir(tmp_path / "gpt2")
    data = tmp_path / "train.txt"
    data.write_text("\n".join(sentences(60, 2)) + "\n")
    model_dir = str(tmp_path / "run")
    train(f"--model_dir={model_dir}", "--model=gpt_nano", "--task=clm", f"--train_data={data}",
          f"--init_checkpoint={directory}", "--task_config=max_new_tokens=4", *RUN)
    assert "unmatched 0" in restore_line(capsys.readouterr().out)
    config = json.loads(open(os.path.join(model_dir, "config.json"), encoding="utf-8").read())
    assert config["tokenizer"] == "byte_bpe" and config["vocab_file"] == "bpe.json"
    loaded = _export(model_dir)
    tokens = loaded.signatures["tokenize"](text=tf.constant([" the film"]))
    assert [t.decode() for t in tokens["tokens"].numpy()[0][1:3]] == ["Ġthe", "Ġfilm"]
    out = loaded.signatures["serving_default"](prompt=tf.constant(["the story", "a film"]))
    assert out["completion"].shape == (2,)


def test_t5_directory_fine_tunes_translation_and_serves_text(tmp_path, capsys):
    lines = sentences(60, 3)
    directory, _ = t5_dir(tmp_path / "t5", lines)
    (tmp_path / "src.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "tgt.txt").write_text("\n".join(" ".join(reversed(s.split())) for s in lines)
                                      + "\n")
    model_dir = str(tmp_path / "run")
    train(f"--model_dir={model_dir}", "--model=t5_small", "--task=translation",
          f"--train_data={tmp_path}/src.txt,{tmp_path}/tgt.txt",
          f"--init_checkpoint={directory}", "--task_config=max_new_tokens=4", *RUN)
    assert "unmatched 0" in restore_line(capsys.readouterr().out)
    config = json.loads(open(os.path.join(model_dir, "config.json"), encoding="utf-8").read())
    assert config["model_config"]["use_gated_activation"] is True
    assert config["tokenizer"] == "sentencepiece_unigram"
    out = _export(model_dir).signatures["serving_default"](
        source=tf.constant(["the film was good", "a story"]))
    assert out["translation"].shape == (2,)


def test_a_directory_on_another_file_system_is_read_through_gfile(tmp_path, capsys):
    """ram:// stands in for gs:// and s3://: the directory is copied locally once."""
    from zoo import atomic_files, fileio
    directory, _ = bert_dir(tmp_path / "bert")
    remote = "ram://zoo-hf-test/bert"
    fileio.rmtree("ram://zoo-hf-test")
    atomic_files.copy_tree(directory, remote)
    data = tmp_path / "train.tsv"
    data.write_text("sentence\tlabel\n" + "".join(
        f"{s}\t{'pos' if i % 2 else 'neg'}\n" for i, s in enumerate(sentences(20, 2))))
    train(f"--model_dir={tmp_path / 'run'}", "--model=bert_base", "--task=classification",
          f"--train_data={data}", f"--init_checkpoint={remote}", "--noexport", *RUN)
    fileio.rmtree("ram://zoo-hf-test")
    assert "unmatched 0" in restore_line(capsys.readouterr().out)
