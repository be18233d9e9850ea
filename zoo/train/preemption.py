"""SIGTERM as a request to stop a training job at its next safe point.

While `sigterm_stops()` is active (all of a zoo-train job), SIGTERM only records
the request. The job looks at `requested()` between its phases (after the data
checks and the vocab, before training, the report and the export) and the
training loop at the end of every host loop and evaluation, where it saves a
checkpoint; each stops there with a message and exit code 0, leaving a
model_dir the same command resumes. Host-side loops that read the data raise
`Interrupted` to end their phase early; phases that cannot look (vocab training,
an export) finish first.

Kept beside `tf.distribute.experimental.PreemptionCheckpointHandler`, which
supports only MultiWorkerMirroredStrategy and TPUStrategy (not `one_device` or
`mirrored`, where most runs are), restores and saves through its own checkpoint
(not the runtime's manager, with its input positions and kept-checkpoint
count), and ends the process itself after saving; a job here must also stop
cleanly between its other phases (data checks, vocab, report, export).

Example:
    >>> with sigterm_stops():
    ...     check_data()
    ...     if requested():
    ...         print("SIGTERM: stopped after the data checks")
"""
import contextlib
import signal
import threading

_received = []


class Interrupted(BaseException):
    """Raised by a host-side loop of a phase when SIGTERM arrived; the phase is
    redone by the next run. (A BaseException, so plugin code catching Exception
    does not swallow it.)"""


def _record(signum, frame):  # pylint: disable=unused-argument
    _received.append(True)


def requested():
    """Whether SIGTERM arrived while `sigterm_stops()` was active."""
    return bool(_received)


def check():
    """Raises Interrupted if SIGTERM arrived (for host-side loops over the data)."""
    if _received:
        raise Interrupted()


@contextlib.contextmanager
def sigterm_stops():
    """Within the block SIGTERM sets `requested()` instead of ending the process.

    Nested blocks share the outer one's request. Outside the main thread (where
    Python cannot handle signals) the block does nothing."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is _record:
        yield
        return
    _received.clear()
    previous = signal.signal(signal.SIGTERM, _record)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
