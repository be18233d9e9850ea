"""The contract between the runtime and a task plugin, and the model spec.

A task plugin sees one replica and batches of raw examples; the runtime owns
the strategy, the loop, checkpoints and export. A minimal plugin:

    @TASKS.register("my_task")
    class MyTask(TaskPlugin):
        families = ("encoder",)
        data_fields = ("text",)
        def preprocess(self, examples, seed=None): ...   # -> (features, labels, weights)
        def build_model(self, backbone): ...            # -> keras.Model
        def loss(self, labels, outputs, weights): ...   # -> (loss_sum, weight_sum)
        def serving_signatures(self, model): ...        # -> {name: tf.function}
"""
import dataclasses
from typing import Any, Callable, ClassVar

ENCODER, DECODER, ENCODER_DECODER = "encoder", "decoder", "encoder_decoder"
FAMILIES = (ENCODER, DECODER, ENCODER_DECODER)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A named model size: `builder(config)` returns a Keras backbone."""
    name: str
    family: str
    builder: Callable[[Any], Any]
    config: Any
    description: str = ""


@dataclasses.dataclass(frozen=True)
class NoConfig:
    """Config of a task without options of its own."""


class TaskPlugin:
    """Base class of task plugins.

    Class attributes describe the task; `__init__` receives the task's config
    (an instance of `config_class`, overridable with --task_config) and the
    text encoder (tokenizer, special ids and sequence length) of the run.
    """
    name: ClassVar[str] = ""
    families: ClassVar[tuple] = ()
    data_fields: ClassVar[tuple] = ("text",)
    #: Fields whose text trains the run's vocabulary (when one is trained).
    text_fields: ClassVar[tuple] = ("text", "text_b")
    config_class: ClassVar[type] = NoConfig
    #: Names of the exported signatures besides `tokenize` (listed by zoo-list).
    signature_names: ClassVar[tuple] = ("serving_default",)
    #: Whether `--batching=bucket` may group the examples `example_stream`
    #: yields by length; False for tasks that pack a token stream into full
    #: rows (clm, span corruption), where nothing is padded.
    supports_bucketing: ClassVar[bool] = True

    #: Data fields a row may leave empty because empty means something (e.g. a
    #: tag list: no tags). An empty (or all-whitespace) value of any other field
    #: fails before training, naming file and line.
    may_be_empty: ClassVar[tuple] = ()
    #: The smallest --seq_len the task works with: its special tokens plus one
    #: token of text (e.g. [CLS] x [SEP] = 3). A smaller one fails before any work.
    min_seq_len: ClassVar[int] = 2

    @classmethod
    def empty_allowed(cls, config):
        """The fields that may be empty under `config` (default `may_be_empty`)."""
        return cls.may_be_empty

    @classmethod
    def min_seq_len_for(cls, config):
        """The smallest --seq_len under `config` (default `min_seq_len`; e.g. more
        for text pairs)."""
        return cls.min_seq_len

    @classmethod
    def can_bucket(cls, config):
        """Whether `--batching=bucket` may be used under `config` (default:
        `supports_bucketing`); e.g. MLM packs rows unless packing=false."""
        return cls.supports_bucketing

    def __init__(self, config, encoder):
        self.config = config
        self.encoder = encoder

    # -- data checks (host side, before training) -----------------------
    @classmethod
    def fields_for(cls, config):
        """The data fields read under `config` (e.g. a second text for pairs)."""
        return cls.data_fields

    @classmethod
    def prepare(cls, config, rows):
        """Returns `config` completed from the training rows (e.g. the label
        set); `rows` yields (path, line, {field: str}). Default: unchanged."""
        return config

    @classmethod
    def check_row(cls, config, path, line, row):
        """Raises DataError naming path:line for a row the task cannot use."""

    @classmethod
    def data_warnings(cls, config, train_rows, eval_rows):
        """After every row passed `check_row`: warnings about the data as a whole
        (e.g. classes only the eval data has), printed before training. The rows
        are iterators of (path, line, {field: str}). Default: none."""
        return []

    @classmethod
    def checks_rows(cls):
        return any(getattr(cls, name).__func__ is not getattr(TaskPlugin, name).__func__
                   for name in ("prepare", "check_row", "data_warnings"))

    # -- input --------------------------------------------------------
    def example_stream(self, examples):
        """Maps the dataset of raw examples to the elements that are batched
        and passed to `preprocess` (default: unchanged). Causal LM packs
        documents into rows of token ids here (and sets `supports_bucketing =
        False`)."""
        return examples

    def preprocess(self, examples, seed=None):
        """Maps a batch of raw examples (dict of 1-D string tensors, keyed by
        `data_fields`) to `(features, labels, weights)`, in pure TF ops.

        `seed` is a shape-[2] int64 tensor for stateless random ops (masking);
        it is None when serving.
        """
        raise NotImplementedError

    # -- model --------------------------------------------------------
    def build_model(self, backbone):
        """Returns a keras.Model taking `features` and returning `outputs`."""
        raise NotImplementedError

    def loss(self, labels, outputs, weights):
        """Returns `(loss_sum, weight_sum)` over this replica's batch, or
        `{term: (loss_sum, weight_sum)}` for a loss made of several terms.

        The runtime divides each sum by its weight summed over all replicas
        (and adds the terms), so results do not depend on how the batch is
        split over replicas.
        """
        raise NotImplementedError

    def metrics(self, labels, outputs, weights):
        """Returns {name: (sum, count)}; the runtime reports sum/count."""
        return {}

    def eval_outputs(self, features, labels, outputs, weights):
        """Per-example tensors to gather on the host during evaluation
        (e.g. predictions and labels), or None. See `corpus_metrics`."""
        return None

    def corpus_metrics(self, gathered):
        """Host-side metrics over the whole eval set from the gathered numpy
        arrays (e.g. F1, Spearman, BLEU): {name: float}."""
        return {}

    # -- serving ------------------------------------------------------
    def serving_signatures(self, model):
        """Returns {signature_name: tf.function} taking raw strings.

        Every input needs a `tf.TensorSpec(..., name=...)`; one signature
        must be named `serving_default`.
        """
        raise NotImplementedError

    def serving_objects(self):
        """Objects the serving signatures use that the SavedModel must track
        besides the model (e.g. a sampler's random state); default none."""
        return ()

    def warmup_inputs(self):
        """Example raw inputs of every signature, {input name: list of strings}:
        used for the TF Serving warm-up file and by the conformance kit."""
        return {"text": ["the quick brown fox"]}

    @classmethod
    def check_family(cls, model_name, family):
        if family not in cls.families:
            raise ValueError(
                f"task '{cls.name}' cannot train model '{model_name}' of family "
                f"'{family}'; it accepts families: {', '.join(cls.families)}")
