"""BERT from keras-hub layers, for what keras-hub's `BertBackbone` does not offer:
pre-layer-norm blocks, the exact (erf) GELU of checkpoints trained with
PyTorch (Hugging Face's `hidden_act: "gelu"`; BertBackbone always uses the
tanh approximation of Google's BERT, which moves all-MiniLM-L6-v2's hidden
states by up to 3e-3), and the Keras layers' default initialisation
(`initializer="keras"`) in place of BERT's truncated normal, and a layer-norm
epsilon other than BERT's 1e-12 (`layer_norm_epsilon`).

With `normalize_first=True` (Xiong et al. 2020) each block normalises its input before attention and before the feed-forward
(keras-hub's `TransformerEncoder(normalize_first=True)`), and one layer norm
follows the last block. Everything else, and every attribute name, is
`keras_hub.models.BertBackbone`'s: token, position and segment embeddings
with their layer norm, `transformer_layers`, a tanh `pooled_dense` on [CLS].
So every encoder task, LoRA, freezing and layer-wise learning rates take it
as they take BERT.

Post-LN BERT keeps its lower layers' gradients small at initialisation; a
pre-LN stack passes them through the residual path, trains at higher learning
rates and leaves the early MLM plateau sooner. Chosen with
`--model_overrides=normalize_first=true` on any `bert_*` size.

Example:
    >>> backbone = ZooBertBackbone(vocabulary_size=1000, num_layers=2, num_heads=2,
    ...                                hidden_dim=64, intermediate_dim=128)
    >>> sorted(backbone.output)
    ['pooled_output', 'sequence_output']
"""
import keras
import keras_hub


def activation_function(name):
    """keras-hub's registered tanh GELU for "gelu_approximate"; Keras's own otherwise.

    >>> activation_function("relu")
    'relu'
    """
    if name == "gelu_approximate":  # (what BertBackbone uses, found by its registered name)
        return keras.saving.get_registered_object("keras_hub>gelu_approximate")
    return name


def _initializers(kind):
    """(kernel, embedding) initializer factories: BERT's truncated normal (std
    0.02) for both, or the Keras layers' defaults ("keras")."""
    if kind == "keras":
        return (lambda: "glorot_uniform"), (lambda: "uniform")
    bert = lambda: keras.initializers.TruncatedNormal(stddev=0.02)  # noqa: E731
    return bert, bert


@keras.saving.register_keras_serializable(package="zoo")
class ZooBertBackbone(keras_hub.models.Backbone):
    """BertBackbone's inputs, outputs, layer names and weight order, with pre-LN
    blocks (`normalize_first`) and any feed-forward `activation` ("gelu" is exact,
    "gelu_approximate" the tanh form)."""

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                 dropout=0.1, max_sequence_length=512, num_segments=2, normalize_first=True,
                 activation="gelu", initializer="bert", layer_norm_epsilon=1e-12, dtype=None,
                 **kwargs):
        kernel, embedding = _initializers(initializer)
        # (Keras's own ReversibleEmbedding, as BertBackbone's: keras_hub.layers' subclass
        # of it refuses Keras's int8 quantization.)
        self.token_embedding = keras.layers.ReversibleEmbedding(
            vocabulary_size, hidden_dim, embeddings_initializer=embedding(), dtype=dtype,
            name="token_embedding")
        self.position_embedding = keras_hub.layers.PositionEmbedding(
            max_sequence_length, initializer=embedding(), dtype=dtype,
            name="position_embedding")
        self.segment_embedding = keras.layers.Embedding(
            num_segments, hidden_dim, embeddings_initializer=embedding(), dtype=dtype,
            name="segment_embedding")
        self.embeddings_add = keras.layers.Add(dtype=dtype, name="embeddings_add")
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="embeddings_layer_norm")
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout")
        self.transformer_layers = [
            keras_hub.layers.TransformerEncoder(
                intermediate_dim=intermediate_dim, num_heads=num_heads,
                activation=activation_function(activation), dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                normalize_first=normalize_first, kernel_initializer=kernel(), dtype=dtype,
                name=f"transformer_layer_{index}")
            for index in range(num_layers)]
        self.final_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype,
            name="final_layer_norm") if normalize_first else None
        self.pooled_dense = keras.layers.Dense(
            hidden_dim, kernel_initializer=kernel(), activation="tanh", dtype=dtype,
            name="pooled_dense")

        inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
                  for name in ("token_ids", "segment_ids", "padding_mask")}
        tokens = self.token_embedding(inputs["token_ids"])
        x = self.embeddings_add((tokens, self.position_embedding(tokens),
                                 self.segment_embedding(inputs["segment_ids"])))
        x = self.embeddings_dropout(self.embeddings_layer_norm(x))
        for layer in self.transformer_layers:
            x = layer(x, padding_mask=inputs["padding_mask"])
        sequence_output = self.final_layer_norm(x) if normalize_first else x
        pooled_output = self.pooled_dense(sequence_output[:, 0, :])
        super().__init__(inputs=inputs, outputs={"sequence_output": sequence_output,
                                                 "pooled_output": pooled_output},
                         dtype=dtype, **kwargs)
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.normalize_first = normalize_first
        self.activation = activation
        self.initializer = initializer
        self.layer_norm_epsilon = layer_norm_epsilon
        self.cls_token_index = 0

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in (
            "vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim",
            "dropout", "max_sequence_length", "num_segments", "normalize_first", "activation",
            "initializer", "layer_norm_epsilon")})
        return config
