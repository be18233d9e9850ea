"""Creates the tf.distribute strategy named by --strategy.

`auto` is `mirrored` over all visible GPUs when there are any, else
`one_device` on the CPU. `cpu_replicas` splits the CPU into logical devices
(for testing `mirrored` without GPUs); it must run before any TF op.

Example:
    >>> strategy = create_strategy("auto")
    >>> strategy.num_replicas_in_sync
    1
"""
import tensorflow as tf

STRATEGIES = ("auto", "one_device", "mirrored")


def split_cpu(num_replicas):
    """Splits the host CPU into `num_replicas` logical devices (before any op runs)."""
    if num_replicas <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * num_replicas)
    except RuntimeError as error:
        raise RuntimeError(
            "--cpu_replicas must be applied before TensorFlow runs any op") from error


def create_strategy(name, num_gpus=-1):
    """Returns a strategy; `num_gpus=-1` uses every visible GPU."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy '{name}'; choose from: {', '.join(STRATEGIES)}")
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if num_gpus >= 0:
        if num_gpus > len(gpus):
            raise ValueError(f"--num_gpus={num_gpus} but only {len(gpus)} GPU(s) are visible")
        gpus = gpus[:num_gpus]
    if name == "auto":
        name = "mirrored" if gpus else "one_device"
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")
    devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)
