"""SIGTERM as a request to stop a training job at its next safe point.

While `sigterm_stops()` is active (all of a zoo-train job), SIGTERM only records
the request. The job looks at `requested()` between its phases (after the data
checks and the vocab, before training, the report and the export); the
training loop stops after the current step (its in-graph loop reads a flag
that an `on_request` callback sets from a watcher thread: Python's own handler
runs only once the host loop returns) and after an evaluation, and saves a
checkpoint. Each stops with a message and exit code 0, leaving a model_dir the
same command resumes. Host-side loops that read the data raise `Interrupted`
to end their phase early; phases that cannot look (vocab training, an export)
finish first. `GraceBudget` warns when one step plus a save would not fit in
--grace_period.

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
    >>> with on_request(lambda: stop_flag.assign(True)):   # from the watcher thread
    ...     train()
"""
import contextlib
import os
import signal
import threading

_received = []
_callbacks = []


class Interrupted(BaseException):
    """Raised by a host-side loop of a phase when SIGTERM arrived; the phase is
    redone by the next run. (A BaseException, so plugin code catching Exception
    does not swallow it.)"""


def _record(signum, frame):  # pylint: disable=unused-argument
    _answer()


def _answer():
    """Records the request; the first one runs the callbacks."""
    first = not _received
    _received.append(True)
    if first:
        for callback in list(_callbacks):
            callback()


def _watch(read_fd):
    """The watcher thread: Python's C-level handler writes each signal's number to
    the wakeup fd at once, while the main thread may be blocked in a TF call."""
    while True:
        try:
            data = os.read(read_fd, 64)
        except OSError:
            return
        if not data:
            return
        if int(signal.SIGTERM) in data:
            _answer()


def requested():
    """Whether SIGTERM arrived while `sigterm_stops()` was active."""
    return bool(_received)


def check():
    """Raises Interrupted if SIGTERM arrived (for host-side loops over the data)."""
    if _received:
        raise Interrupted()


def reclaim():
    """Puts this module's SIGTERM handler back in place within `sigterm_stops()`.

    A MultiWorkerMirroredStrategy starts TensorFlow's coordination service, whose
    preemption notifier installs a C++ SIGTERM handler over Python's: the signal
    would then never reach the job. Call this once the strategy exists."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is _record:
        signal.signal(signal.SIGTERM, _record)


@contextlib.contextmanager
def on_request(callback):
    """Within the block, `callback()` runs once when SIGTERM arrives (at once if it
    did), from the watcher thread: it must be thread-safe (assigning a tf.Variable is)."""
    _callbacks.append(callback)
    try:
        if _received:
            callback()
        yield
    finally:
        _callbacks.remove(callback)


class GraceBudget:
    """Warns once when one training step plus a checkpoint save take longer than the
    grace period, once both were timed.

    >>> GraceBudget(25).timed(step_seconds=0.5, save_seconds=30.0)
    warning: one training step (0.50s) plus a checkpoint save (30.00s) take 30.5s, ...
    """

    def __init__(self, grace_period):
        self.grace_period = grace_period
        self.warned = False

    def timed(self, step_seconds, save_seconds):
        """Prints (and returns) the warning if it is due, else None."""
        if self.warned or step_seconds is None or save_seconds is None:
            return None
        total = step_seconds + save_seconds
        if total <= self.grace_period:
            return None
        self.warned = True
        message = (f"warning: one training step ({step_seconds:.2f}s) plus a checkpoint save "
                   f"({save_seconds:.2f}s) take {total:.1f}s, more than --grace_period="
                   f"{self.grace_period:g}s: a preemption may kill the job before it saves")
        print(message, flush=True)
        return message


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
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    watcher = threading.Thread(target=_watch, args=(read_fd,), daemon=True,
                               name="sigterm-watcher")
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGTERM, previous)
        os.close(write_fd)  # the watcher reads the end of the pipe and returns
        watcher.join(timeout=5)
        os.close(read_fd)
