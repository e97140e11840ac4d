"""Files that appear whole or not at all: write to a temporary file beside, then rename; folders checked
for writing before any work."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from .errors import RunError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; rename it onto ``path`` if the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary file is removed and
    an existing ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _new_file(path)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _new_file(path: Path) -> Path:
    """Create a fresh hidden file beside ``path``, with the permissions any new file gets.

    Opened with mode 0o666, the kernel applies the process umask itself: nothing here
    reads or changes it (``mkstemp`` would make 0600, and reading the umask means setting it).
    """
    for _ in range(100):
        temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}.part{path.suffix}"
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return temporary
    raise FileExistsError(f"no free temporary name beside {path}")


def write_text(path: str | Path, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


@contextlib.contextmanager
def staged_directory(directory: str | Path, *, last: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a hidden folder inside ``directory``; when the block succeeds, move its files into ``directory``.

    A run writes many files; staging them lets an existing run directory keep all its
    earlier files, mutually consistent, if the run fails or is interrupted part-way.
    The moves (files named in ``last`` go last) are renames on one file system,
    made with SIGINT held back so no interrupt can land between two of them. On any
    exception (KeyboardInterrupt included) the staging folder is removed.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".optviz-staging-", dir=directory))
    try:
        yield staging
        order = {name: position for position, name in enumerate(last)}
        files = sorted(staging.iterdir(), key=lambda path: (order.get(path.name, -1), path.name))
        with interrupts_deferred():
            for path in files:
                os.replace(path, directory / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT back during the block and deliver it afterwards (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received and callable(previous):
        previous(signal.SIGINT, None)


def check_writable(out_dir: Path) -> None:
    """Fail before any work if ``out_dir`` cannot hold the run's files."""
    for parent in [out_dir, *out_dir.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise RunError(f"{out_dir}: cannot write there: {parent} is a file, not a directory")
            break
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as error:
        raise RunError(f"{out_dir}: cannot write there: {error.strerror or error}") from None
