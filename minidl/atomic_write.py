"""Write a file so that readers see the old version or the new one, never half of one.

The one home of minidl's "temporary file next to the target, fsync, rename over it"
(checkpoints, downloads, graph pictures, traces). The temporary is created as ``open()``
would create the file (mode 0666 less the umask), a file written over keeps its own
permissions (a private checkpoint stays private), a symbolic link is written through (its
target is replaced, the link stays), and after the rename the folder is fsynced too, so
the new file survives a power cut. Errors name the requested path, not the temporary.
"""

import errno
import os
import secrets
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path, write):
    """Call ``write(tmp)`` to fill a temporary file next to ``path`` (``tmp`` is its path;
    the file exists and is empty), then make it ``path`` atomically. On any error the
    temporary is removed and ``path`` is left as it was. Returns ``path`` as a Path."""
    path = Path(os.fsdecode(path))
    if path.is_dir():
        raise IsADirectoryError(
            errno.EISDIR, "cannot write the file: the path is a folder", str(path)
        )
    if path.is_symlink():  # write through the link, as open() does, not over it
        path = Path(os.path.realpath(path))
    folder = path.parent.absolute()
    tmp = _create_temporary(path, folder)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        _keep_mode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_folder(folder)
    return path


def _create_temporary(path, folder):
    """A new empty file next to ``path``, created with mode 0666 so that the umask applies
    (``tempfile.mkstemp`` would make it 0600). Errors name ``path``, not the temporary."""
    name = os.path.join(folder, f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        os.close(os.open(name, flags, 0o666))
    except OSError as exc:
        reason = "the folder does not exist" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise type(exc)(exc.errno, f"cannot write the file ({reason})", str(path)) from None
    return name


def _keep_mode(path, tmp):
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    os.chmod(tmp, mode & 0o7777)


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
