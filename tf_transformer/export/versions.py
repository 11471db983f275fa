"""The TF Serving layout `<directory>/<name>/<version>/`: integer versions, and writing one atomically.

    latest_version("saved_models/g2p_tiny")   # "saved_models/g2p_tiny/3"
    next_version("saved_models/g2p_tiny")     # 4
    with atomic_version_dir("saved_models/g2p_tiny", 4) as temporary:   # write into `temporary`; renamed to .../4
        module.save(temporary)

TF Serving loads only directories whose name is a positive integer, so the temporary directory is named
`.tmp-<version>-<random>` (a dot name Serving ignores) next to the target and renamed when it is complete.
"""

import contextlib
import os
import shutil
import tempfile

from tf_transformer.errors import ModelPathError

TEMPORARY_PREFIX = ".tmp-"


def versions(model_dir):
    """The integer versions present in `model_dir` (sorted ascending; [] if it does not exist)."""
    model_dir = str(model_dir)
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(name) for name in os.listdir(model_dir)
                  if name.isdigit() and os.path.isdir(os.path.join(model_dir, name)))


def latest_version(model_dir):
    """The path of the highest version in `model_dir` (`saved_models/<name>`), or `model_dir` itself if it is
    already a SavedModel directory (it holds saved_model.pb).

    Raises:
        ModelPathError: nothing loadable there, naming the fix.
    """
    model_dir = str(model_dir)
    if os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
        return model_dir
    if not os.path.isdir(model_dir):
        raise ModelPathError(f"{model_dir}: no such directory; pass saved_models/<name> as written by "
                             "`tf-transformer export`")
    found = versions(model_dir)
    if not found:
        raise ModelPathError(f"{model_dir}: no numbered version directory (1/, 2/, ...) here; export one with "
                             "`tf-transformer export --run-dir <run>`")
    return os.path.join(model_dir, str(found[-1]))


def next_version(model_dir):
    """The next free version number in `model_dir`: one more than the highest present, 1 for a new model."""
    found = versions(model_dir)
    return found[-1] + 1 if found else 1


def check_version_free(model_dir, version):
    """The path `<model_dir>/<version>` after checking the version is a positive integer not yet written.

    Raises:
        ModelPathError: a bad or existing version, naming the fix.
    """
    model_dir = str(model_dir)
    if isinstance(version, bool) or int(version) != version or version < 1:
        raise ModelPathError(f"{model_dir}: version must be a positive integer (TF Serving's layout), got {version!r}")
    target = os.path.join(model_dir, str(int(version)))
    if os.path.exists(target):
        raise ModelPathError(f"{target}: version {version} already exists and is never overwritten; omit --version "
                             f"to write version {next_version(model_dir)}, or remove it first")
    return target


@contextlib.contextmanager
def atomic_version_dir(model_dir, version):
    """Context manager yielding a temporary directory that becomes `<model_dir>/<version>` on success.

    The target must not exist (never overwritten); on any error the temporary directory is removed, so no
    partial version is ever visible.

    Raises:
        ModelPathError: the version exists already (before or, from a concurrent export, at the rename).
    """
    model_dir, version = str(model_dir), int(version)
    target = check_version_free(model_dir, version)
    os.makedirs(model_dir, exist_ok=True)
    temporary = tempfile.mkdtemp(prefix=f"{TEMPORARY_PREFIX}{version}-", dir=model_dir)
    try:
        os.chmod(temporary, 0o755)  # mkdtemp makes it private; a server running as another user must read it
        yield temporary
        try:
            os.rename(temporary, target)  # atomic on one file system; fails if target appeared and is non-empty
        except OSError:
            if os.path.exists(target):
                raise ModelPathError(f"{target}: another export wrote version {version} meanwhile; export again "
                                     "to write the next version") from None
            raise
    finally:
        if os.path.exists(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
