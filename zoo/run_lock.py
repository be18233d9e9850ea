"""One writer per model_dir: a lock file naming the holder's host and pid.

zoo-train and zoo-export claim `<model_dir>/zoo.lock` before they write; a
second claim while the holder lives is refused with `DirectoryLocked`, naming
the holder's program, host and pid. The file is created exclusively (O_EXCL on
a local disk). A shared file system through tf.io.gfile (GCS, HDFS) has no
exclusive create: the record is written under a temporary name, renamed
without overwriting (on GCS a check, then a copy), and read back after
`SETTLE_SECONDS`; a claimant that then finds another's record has lost, so
of two claimants racing within that time one wins. While held, a thread
refreshes its `heartbeat` every minute. A claim whose holder is gone is taken
over, with a message: a pid that no longer exists on this host, or (any host)
a heartbeat older than ten minutes.

Example:
    >>> with claim("runs/a", "zoo-train"):
    ...     train()
    >>> claim("runs/a", "zoo-export").__enter__()   # while the first still runs:
    DirectoryLocked: 'runs/a' is in use by zoo-train on host h1, pid 4242 (since ...)
"""
import contextlib
import json
import os
import socket
import threading
import time
import uuid

from zoo import fileio

LOCK_FILE = "zoo.lock"
#: A holder whose heartbeat is older than this is gone (its host crashed).
STALE_SECONDS = 600
HEARTBEAT_SECONDS = 60
#: On a shared file system, how long a claimant waits before reading its claim back
#: (longer than a rival's check-then-copy of a non-atomic rename takes).
SETTLE_SECONDS = 2.0
_held = {}  # lock path -> this process's claim record


class DirectoryLocked(FileExistsError):
    """Another live process holds the model_dir."""


def _read(path):
    try:
        return json.loads(fileio.read_text(path))
    except Exception:  # pylint: disable=broad-except  (gone, or half written: no holder)
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_reason(holder, now=None):
    """Why the claim `holder` (a lock file's record) is stale, or None if it may live."""
    if holder is None:
        return "its lock file is unreadable"
    age = (now or time.time()) - holder.get("heartbeat", 0)
    if age > STALE_SECONDS:
        return f"its heartbeat is {age:.0f} s old"
    if holder.get("host") == socket.gethostname() and holder.get("pid") != os.getpid() \
            and not _alive(holder.get("pid", 0)):
        return f"pid {holder.get('pid')} no longer runs on {holder.get('host')}"
    if holder.get("host") == socket.gethostname() and holder.get("pid") == os.getpid() \
            and holder.get("id") not in [r["id"] for r in _held.values()]:
        return "it is a leftover of this process"
    return None


def _create(path, text):
    """Creates `path` holding `text` unless it exists; whether it did."""
    if fileio.is_remote(path):
        tmp = fileio.join(fileio.dirname(path), f".{LOCK_FILE}.tmp-{uuid.uuid4().hex[:12]}")
        with fileio.gfile().GFile(tmp, "w") as handle:
            handle.write(text)
        try:
            fileio.gfile().rename(tmp, path, overwrite=False)
        except Exception:  # pylint: disable=broad-except  (it exists)
            fileio.remove(tmp)
            return False
        time.sleep(SETTLE_SECONDS)  # a rival's rename may still land over ours
        mine, now = json.loads(text).get("id"), _read(path)
        return now is not None and now.get("id") == mine
    try:
        fd = os.open(fileio.local_path(path), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return True


def _heartbeat(path, record, stop):
    from zoo.atomic_files import atomic_write_text
    while not stop.wait(HEARTBEAT_SECONDS):
        current = _read(path)
        if current is None or current.get("id") != record["id"]:
            return  # taken over (we were thought gone): leave it be
        record["heartbeat"] = time.time()
        try:
            atomic_write_text(path, json.dumps(record))
        except OSError:
            pass  # (a full disk: the next beat retries)


def describe(holder):
    return (f"{holder.get('program', 'a zoo program')} on host {holder.get('host')}, pid "
            f"{holder.get('pid')} (since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(holder.get('started', 0)))})")


@contextlib.contextmanager
def claim(directory, program, say=print):
    """Holds `directory` for this process while the block runs (nested claims of one
    process share the outer one). Raises DirectoryLocked if a live process holds it."""
    path = fileio.join(directory, LOCK_FILE)
    if path in _held:
        yield
        return
    fileio.makedirs(directory)
    now = time.time()
    record = {"program": program, "host": socket.gethostname(), "pid": os.getpid(),
              "started": now, "heartbeat": now, "id": uuid.uuid4().hex}
    for _ in range(3):
        if _create(path, json.dumps(record)):
            break
        holder = _read(path)
        reason = stale_reason(holder)
        if reason is None:
            raise DirectoryLocked(
                f"'{directory}' is in use by {describe(holder)}: one process writes a "
                f"model_dir at a time. Wait for it to end or stop it (its lock: {path})")
        say(f"taking over the lock of '{directory}' from "
            f"{describe(holder) if holder else 'an unknown holder'}: {reason}", flush=True)
        fileio.remove(path)
    else:
        raise DirectoryLocked(f"could not claim '{directory}': {path} keeps reappearing")
    _held[path] = record
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(path, record, stop), daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        del _held[path]
        current = _read(path)
        if current is not None and current.get("id") == record["id"]:
            fileio.remove(path)
