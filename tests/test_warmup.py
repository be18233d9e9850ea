"""The conformance kit's warm-up check (plugins.testing.check_warmup_requests): TF
Serving replays an export's warm-up file (PredictionLog records) when it loads a
version and refuses the version if a request fails, so the kit replays it too.

Every built-in task's real export goes through this check in test_conformance_*.py;
here a one-signature SavedModel shows that each kind of broken file is caught.
"""
import os

import pytest
import tensorflow as tf

from plugins.testing import ConformanceError, check_warmup_requests
from zoo.serve.export import WARMUP_FILE, write_warmup_requests


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A SavedModel whose serving_default takes raw strings `text` and fails on ''."""
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(text):
        tf.debugging.assert_greater(tf.strings.length(text), 0, message="empty text")
        return {"length": tf.strings.length(text)}
    module.serve = serve
    path = str(tmp_path_factory.mktemp("export") / "1")
    tf.saved_model.save(module, path, signatures={"serving_default": serve})
    os.makedirs(os.path.join(path, "assets.extra"))
    return path


def warmup_file(export):
    return os.path.join(export, "assets.extra", WARMUP_FILE)


def test_requests_that_replay_pass(export):
    write_warmup_requests(warmup_file(export), "export", {"text": ["a film", "b"]})
    check_warmup_requests(export)


@pytest.mark.parametrize("inputs, message", [
    ({"text": ["a film", ""]}, "fails on 'serving_default': InvalidArgumentError"),
    ({"sentence": ["a film"]}, r"gives inputs \['sentence'\], signature 'serving_default' "
                               r"takes \['text'\]"),
])
def test_a_request_that_fails_is_caught(export, inputs, message):
    write_warmup_requests(warmup_file(export), "export", inputs)
    with pytest.raises(ConformanceError, match="warm-up record 1 of .*" + message):
        check_warmup_requests(export)


def test_a_record_that_is_not_a_prediction_log_is_caught(export):
    with tf.io.TFRecordWriter(warmup_file(export)) as writer:
        writer.write(b"\xff\xff not a protocol buffer")
    with pytest.raises(ConformanceError, match="warm-up record 1 of .* is not a PredictionLog"):
        check_warmup_requests(export)


def test_an_empty_or_missing_file_is_caught(export):
    with tf.io.TFRecordWriter(warmup_file(export)):
        pass
    with pytest.raises(ConformanceError, match="holds no request"):
        check_warmup_requests(export)
    os.remove(warmup_file(export))
    with pytest.raises(ConformanceError, match="has no warm-up file"):
        check_warmup_requests(export)
