"""Write a file so that readers see the old version or the new one, never half of one."""
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path, write):
    """Call ``write(tmp)`` to fill a temporary file next to ``path``, then rename it over
    ``path`` (an atomic step on POSIX and Windows). On any error the temporary is removed
    and ``path`` is left as it was. Returns ``path`` as a Path."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; these are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
