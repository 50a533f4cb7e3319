"""Writing files so that a crash or a full disk never leaves a half-written one under its real name: the bytes go to
a temporary file beside the target, are flushed to disk and checked, and only then take the target's name. On any
failure the temporary file is removed and the target is as it was."""
import errno
import os
from pathlib import Path
from typing import BinaryIO, Callable

Content = bytes | Callable[[BinaryIO], None]     # the bytes, or a function that writes them into an open file


def fsync_dir(path: Path) -> None:
    """Make a rename or a new name in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_checked(tmp: Path, content: Content) -> None:
    """Write, flush and fsync `tmp` (which must not exist); the size on disk must be what was written and not
    zero, so a write that failed silently (a library that swallows a full disk) is caught before the rename."""
    with open(tmp, "xb") as f:
        if callable(content):
            content(f)
        else:
            f.write(content)
        f.flush()
        os.fsync(f.fileno())
        written, on_disk = f.tell(), os.fstat(f.fileno()).st_size
    if on_disk != written or (written == 0 and content != b""):
        raise OSError(errno.EIO, f"wrote {written} bytes but {on_disk} reached the disk", str(tmp))


def write_atomic(path: str | Path, content: Content) -> None:
    """Replace `path` with `content`: the old file stays whole until the new one is on disk."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)             # a leftover of a crash: this process is the one writing `path`
    try:
        _write_checked(tmp, content)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_new(path: Path, content: Content, tmp: Path) -> None:
    """Create `path` with `content` through the temporary name `tmp`, never replacing an existing file: raises
    FileExistsError if `path` exists. A hard link gives the name atomically and fails on an existing one; where the
    file system has no hard links, an existence check and a rename stand in."""
    try:
        _write_checked(tmp, content)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            if path.exists():
                raise FileExistsError(errno.EEXIST, "file exists", str(path)) from e
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
