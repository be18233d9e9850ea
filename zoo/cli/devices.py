"""The devices a zoo-* command runs on, said in one line, without the CUDA noise
of a CPU-only machine.

TensorFlow's pip package looks for a GPU when it first lists devices, and on a
machine without the NVIDIA driver logs `E ... failed call to cuInit: ... CUDA
error` (and `Could not find cuda drivers`), which a newcomer reads as a failure.
`report_devices` imports TensorFlow and lists the devices with the process's
stderr (file descriptor 2, where TensorFlow's C++ logging writes) caught; then
it writes back every caught line except those two, unless a GPU was asked for
or found, and writes one line naming the devices (to stderr too, so that what
a command prints on stdout, predictions or JSON, stays its own).

`cuda_noise_dropped` does the same around any work that may first touch
TensorFlow (zoo-vocab, whose small WordPiece samples take tensorflow-text's
learner, lists no devices of its own).

Example:
    >>> report_devices()          # before any other TensorFlow work
    devices: CPU (no GPU found)
    >>> with cuda_noise_dropped():
    ...     train_vocab()
"""
import contextlib
import os
import sys
import tempfile

#: TensorFlow's lines about a missing CUDA driver: noise where no GPU was asked for.
CUDA_NOISE = ("failed call to cuInit", "Could not find cuda drivers")


def describe(devices):
    """'2 GPU (GPU:0, GPU:1), CPU' from tf.config's PhysicalDevices."""
    gpus = [d.name.split("physical_device:")[-1] for d in devices if d.device_type == "GPU"]
    others = sorted({d.device_type for d in devices if d.device_type != "GPU"})
    if not gpus:
        return ", ".join(others) + " (no GPU found)"
    return f"{len(gpus)} GPU ({', '.join(gpus)}), " + ", ".join(others)


def kept_lines(text, quiet):
    """The caught stderr lines to write back: all, or without CUDA_NOISE."""
    lines = text.splitlines(keepends=True)
    return [line for line in lines if not (quiet and any(n in line for n in CUDA_NOISE))]


@contextlib.contextmanager
def cuda_noise_dropped(quiet=True):
    """Within: the process's stderr (file descriptor 2) is caught; on leaving it is
    written back, without CUDA_NOISE when `quiet` (a callable is asked then)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode("utf-8", "replace")
            sys.stderr.write("".join(kept_lines(text, quiet() if callable(quiet) else quiet)))
            sys.stderr.flush()


def report_devices(gpus_wanted=False):
    """Imports TensorFlow, lists its devices and says them in one line; the CUDA
    driver's absence is not logged unless `gpus_wanted`. Returns the devices."""
    devices = []

    def quiet():
        return not gpus_wanted and not any(d.device_type == "GPU" for d in devices)
    with cuda_noise_dropped(quiet):
        import tensorflow as tf
        devices = tf.config.list_physical_devices()
    print(f"devices: {describe(devices)}", file=sys.stderr, flush=True)
    return devices
