"""Creates the tf.distribute strategy named by --strategy, and what workers share.

`auto` is `mirrored` over all visible GPUs when there are any, else
`one_device` on the CPU. `cpu_replicas` splits the CPU into logical devices
(for testing `mirrored` without GPUs); it must run before any TF op.

`multi_worker` is MultiWorkerMirroredStrategy over the cluster of TF_CONFIG
(as Kubernetes and cloud trainers set it) or of --worker_hosts and
--task_index; it too must be created before any TF op. Every worker trains;
only the chief (task `chief`, else worker 0) keeps what it writes, the
others write into a temporary directory removed at the end (`write_dir`),
since saving a checkpoint is collective. `tpu` connects to the TPU named by
--tpu (a Cloud TPU name, grpc://host:port, or `local` on a TPU VM).

Example:
    >>> strategy = create_strategy("auto")
    >>> strategy.num_replicas_in_sync
    1
    >>> resolve_cluster(["10.0.0.1:2222", "10.0.0.2:2222"], 1).task_id
    1
"""
import contextlib
import dataclasses
import hashlib
import json
import shutil
import socket
import tempfile

import numpy as np
import tensorflow as tf

from zoo.train import preemption

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
#: Task types a multi_worker cluster may give this process.
WORKER_TYPES = ("chief", "worker")
TF_CONFIG_EXAMPLE = json.dumps({"cluster": {"worker": ["host:port", "..."]},
                                "task": {"type": "worker", "index": 0}})


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


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The hosts of a multi_worker run by job ({'worker': ['host:port', ...]}), and
    this process's task in it."""
    jobs: dict
    task_type: str
    task_id: int

    @property
    def workers(self):
        """How many processes train (the chief, if any, and the workers)."""
        return sum(len(self.jobs.get(job, [])) for job in WORKER_TYPES)


def _check_host(host, source):
    name, _, port = host.rpartition(":")
    if not name or not port.isdigit():
        raise ValueError(f"{source} entry '{host}' is not host:port")


def _cluster_from_tf_config(tf_config):
    try:
        parsed = json.loads(tf_config)
        jobs, task = parsed["cluster"], parsed["task"]
        task_type, task_id = task["type"], int(task.get("index", 0))
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"TF_CONFIG must be JSON like {TF_CONFIG_EXAMPLE}; it is "
                         f"{tf_config!r} ({type(error).__name__}: {error})") from None
    if not isinstance(jobs, dict) or not all(isinstance(h, list) for h in jobs.values()):
        raise ValueError(f"TF_CONFIG 'cluster' must map job names to host lists: {jobs!r}")
    if task_type not in WORKER_TYPES:
        raise ValueError(f"TF_CONFIG task type '{task_type}' is not supported by "
                         f"--strategy=multi_worker (only {' and '.join(WORKER_TYPES)})")
    if task_type not in jobs:
        raise ValueError(f"TF_CONFIG task type '{task_type}' has no hosts in its 'cluster' "
                         f"(jobs: {', '.join(sorted(jobs)) or 'none'})")
    unsupported = sorted(set(jobs) - set(WORKER_TYPES))
    if unsupported:
        raise ValueError(f"TF_CONFIG cluster job(s) {', '.join(unsupported)} are not "
                         "supported by --strategy=multi_worker (only chief and worker)")
    if len(jobs.get("chief", [])) > 1:
        raise ValueError(f"TF_CONFIG lists {len(jobs['chief'])} chief hosts; at most one")
    hosts = jobs[task_type]
    if not 0 <= task_id < len(hosts):
        raise ValueError(f"TF_CONFIG task index {task_id} is out of range: job "
                         f"'{task_type}' lists {len(hosts)} host(s)")
    for host in (h for job in jobs.values() for h in job):
        _check_host(host, "TF_CONFIG cluster")
    return Cluster(jobs, task_type, task_id)


def resolve_cluster(worker_hosts=(), task_index=-1, tf_config=None):
    """The cluster of --strategy=multi_worker: from TF_CONFIG (its JSON text) or
    from --worker_hosts (worker 0 is the chief) and --task_index. Raises
    ValueError saying what is missing or wrong."""
    if tf_config and worker_hosts:
        raise ValueError("TF_CONFIG is set and --worker_hosts is given; describe the "
                         "cluster with one of them")
    if tf_config:
        if task_index >= 0:
            raise ValueError("--task_index goes with --worker_hosts; with TF_CONFIG this "
                             "worker's task is TF_CONFIG's 'task'")
        return _cluster_from_tf_config(tf_config)
    if not worker_hosts:
        raise ValueError("--strategy=multi_worker needs the cluster: set TF_CONFIG, or give "
                         "--worker_hosts=host:port,... and --task_index")
    if task_index < 0:
        raise ValueError("--worker_hosts needs --task_index (this worker's position in "
                         "--worker_hosts; 0 is the chief)")
    if task_index >= len(worker_hosts):
        raise ValueError(f"--task_index={task_index} is out of range: --worker_hosts lists "
                         f"{len(worker_hosts)} host(s) (0-{len(worker_hosts) - 1})")
    for host in worker_hosts:
        _check_host(host, "--worker_hosts")
    return Cluster({"worker": list(worker_hosts)}, "worker", task_index)


def _visible_gpus(num_gpus, names):
    if num_gpus > len(names):
        raise ValueError(f"--num_gpus={num_gpus} but only {len(names)} GPU(s) are visible")
    return names[:num_gpus] if num_gpus >= 0 else names


def _multi_worker(cluster, num_gpus):
    gpus = _visible_gpus(num_gpus, tf.config.list_physical_devices("GPU"))
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster.jobs), task_type=cluster.task_type,
        task_id=cluster.task_id, num_accelerators={"GPU": len(gpus)}, rpc_layer="grpc")
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    except RuntimeError as error:
        raise RuntimeError("--strategy=multi_worker must be created before TensorFlow runs "
                           f"any op: {error}") from error
    preemption.reclaim()  # (its coordination service took SIGTERM for itself)
    return strategy


def _check_reachable(address):
    """Fails fast on a grpc://host:port that nothing listens on (TensorFlow
    would wait for it for minutes)."""
    host, _, port = address[len("grpc://"):].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot connect to {host}:{port} ({error})") from None


def _tpu(name):
    try:
        if name.startswith("grpc://"):
            _check_reachable(name)
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=name or None)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, OSError, RuntimeError, tf.errors.OpError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ValueError(f"no TPU found for --tpu={name}: {message}") from None
    return tf.distribute.TPUStrategy(resolver)


def create_strategy(name, num_gpus=-1, cluster=None, tpu=""):
    """Returns a strategy; `num_gpus=-1` uses every visible GPU. `multi_worker`
    needs `cluster` (see resolve_cluster); `tpu` connects to the TPU `tpu`."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy '{name}'; choose from: {', '.join(STRATEGIES)}")
    if name == "multi_worker":
        if cluster is None:
            raise ValueError("--strategy=multi_worker needs a cluster (see resolve_cluster)")
        return _multi_worker(cluster, num_gpus)
    if name == "tpu":
        return _tpu(tpu)
    gpus = _visible_gpus(num_gpus, [d.name for d in tf.config.list_logical_devices("GPU")])
    if name == "auto":
        name = "mirrored" if gpus else "one_device"
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")
    devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


def is_chief(strategy):
    """Whether this process keeps checkpoints, logs and exports (always, but for
    the non-chief workers of a multi_worker run)."""
    return strategy.extended.should_checkpoint


@contextlib.contextmanager
def write_dir(model_dir, strategy):
    """Yields the directory this process writes into: model_dir on the chief; a
    fresh temporary directory on other workers, removed at the end (on failure too).

    Example:
        >>> with write_dir("runs/a", strategy) as directory:
        ...     manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=3)
    """
    if is_chief(strategy):
        yield model_dir
        return
    directory = tempfile.mkdtemp(prefix="zoo-worker-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def worker_position(strategy):
    """(this worker's index, the number of workers): (0, 1) but under
    multi_worker, where the chief (task `chief`, else worker 0) is 0.

    >>> worker_position(tf.distribute.OneDeviceStrategy("/cpu:0"))
    (0, 1)
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return 0, 1
    jobs = resolver.cluster_spec().as_dict()
    chiefs, workers = len(jobs.get("chief", [])), len(jobs.get("worker", []))
    index = resolver.task_id if resolver.task_type == "chief" else chiefs + resolver.task_id
    return index, chiefs + workers


def same_on_all_workers(strategy, text):
    """Whether `text` (e.g. the resolved run configuration) is the same on every
    worker of a multi_worker run: one all-gather of its SHA-256. True for the
    strategies of one process."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    digest = np.frombuffer(hashlib.sha256(text.encode("utf-8")).digest(), np.int32)

    @tf.function(autograph=False)
    def gather():
        return strategy.gather(strategy.run(tf.identity, args=(digest,)), axis=0)
    gathered = gather().numpy().reshape(-1, digest.size)
    return bool((gathered == gathered[0]).all())


def any_worker(strategy):
    """A function `flag -> whether flag is true on any worker`: one all-reduce a call
    under multi_worker (every worker must call it at the same point), `bool` for
    the strategies of one process.

    Example:
        >>> stop = any_worker(strategy)
        >>> stop(sigterm_received)   # True on every worker if any received one
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return bool

    @tf.function(input_signature=[tf.TensorSpec([], tf.float32)], autograph=False)
    def total(value):
        return strategy.reduce(tf.distribute.ReduceOp.SUM,
                               strategy.run(tf.identity, args=(value,)), axis=None)
    return lambda flag: bool(total(tf.constant(float(flag))) > 0)
