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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = _new_file(path)
    except OSError as error:
        raise RunError(f"{path}: cannot write: {error.strerror or error}") from None
    try:
        yield temporary
        check_interrupted()
        os.replace(temporary, path)
    except OSError as error:  # a full disk, a file too large, a folder where the file goes
        temporary.unlink(missing_ok=True)
        raise RunError(f"{path}: cannot write: {error.strerror or error}") from None
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
        check_interrupted()
        with interrupts_deferred():
            for path in files:
                os.replace(path, directory / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# The signals that end a command: each is held back while a folder or file is put in place.
ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
# Ending signals received so far. The exception a signal handler raises is lost when it lands
# in a ``__del__`` or a weakref callback (Python prints "Exception ignored" and goes on), so
# every commit point raises it again from here before it puts anything in place.
_received: list[int] = []


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP, raised where the command is, so its clean-up runs as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def interrupt(signum: int) -> None:
    """Note an ending signal and raise :class:`Interrupted` (from a signal handler)."""
    _received.append(signum)
    raise Interrupted(signum)


def check_interrupted() -> None:
    """Raise :class:`Interrupted` again if an ending signal was received (its first raise may have been lost)."""
    if _received:
        raise Interrupted(_received[0])


def forget_interrupts() -> None:
    """Start a command with no signal received."""
    _received.clear()
# Files and folders that mark a folder as optviz's own, so a rerun may replace it.
OWN_MARKERS = ("manifest.json", "sweep.json", "sweep.yaml", "tuned.yaml", "cells")


@contextlib.contextmanager
def published_directory(directory: str | Path, *, carry: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a hidden staging folder beside ``directory``; when the block succeeds, it becomes ``directory``.

    The folder appears whole or not at all: everything is written into the staging folder,
    then one rename swaps it in. An existing ``directory`` is first renamed aside and
    deleted only once the swap has succeeded; if the swap fails it is renamed back, so
    the earlier folder survives byte for byte. Entries named in ``carry`` (a sweep's
    ``cells/``) move from the old folder into the new one. The renames run with
    SIGINT, SIGTERM and SIGHUP held back. On any exception (KeyboardInterrupt included)
    the staging folder is removed.
    """
    directory = Path(directory)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = _new_folder(directory, "staging")
    except OSError as error:
        raise RunError(f"{directory}: cannot write there: {error.strerror or error}") from None
    try:
        yield staging
        check_interrupted()
        try:
            with interrupts_deferred():
                _swap_in(staging, directory, carry)
        except OSError as error:
            raise RunError(f"{directory}: cannot put the run in place: {error.strerror or error}; "
                           "the earlier folder is unchanged") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, directory: Path, carry: tuple[str, ...]) -> None:
    if not directory.exists():
        os.rename(staging, directory)
        return
    old = directory.parent / f".{directory.name}.optviz-old-{secrets.token_hex(4)}"
    os.rename(directory, old)
    try:
        for name in carry:
            if (old / name).exists() and not (staging / name).exists():
                os.rename(old / name, staging / name)
        os.rename(staging, directory)
    except BaseException:
        for name in carry:  # back where they were, then the old folder back in place
            if (staging / name).exists() and not (old / name).exists():
                os.rename(staging / name, old / name)
        os.rename(old, directory)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _new_folder(directory: Path, kind: str) -> Path:
    """A fresh hidden folder beside ``directory``, made with mode 0777 so the umask applies as to any folder."""
    for _ in range(100):
        folder = directory.parent / f".{directory.name}.optviz-{kind}-{secrets.token_hex(4)}"
        try:
            folder.mkdir(mode=0o777)
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"no free temporary name beside {directory}")


def check_replaceable(directory: Path) -> None:
    """Refuse to replace a folder that is neither empty nor optviz's own (``--out .``, a home folder)."""
    if not directory.is_dir():
        return
    entries = sorted(path.name for path in directory.iterdir())
    if entries and not any(name in entries for name in OWN_MARKERS):
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        raise RunError(f"{directory}: not an optviz output folder (it holds {shown}); a run replaces its whole "
                       "folder, so name a new or empty folder with --out")


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back during the block and deliver them afterwards (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {number: signal.signal(number, lambda signum, frame: received.append(signum))
                for number in ENDING_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    for number in dict.fromkeys(received):
        handler = previous[number]
        if callable(handler):
            handler(number, None)
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), number)


# A file name's limit on Linux and macOS; staging folders add about 30 characters to the name.
NAME_MAX = 255


def check_writable(out_dir: Path) -> None:
    """Fail before any work if ``out_dir`` cannot be written: its folder, or the folder that will hold it.

    Makes the parent folders (``outputs/``), not ``out_dir`` itself: a run publishes it whole.
    """
    if len(out_dir.name.encode()) + 32 > NAME_MAX:
        raise RunError(f"{out_dir.name[:40]}...: cannot write there: the folder name is too long "
                       f"({len(out_dir.name.encode())} bytes; at most {NAME_MAX - 32})")
    try:
        for parent in [out_dir, *out_dir.parents]:
            if parent.exists():
                if not parent.is_dir():
                    raise RunError(f"{out_dir}: cannot write there: {parent} is a file, not a directory")
                break
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        for folder in (out_dir.parent, out_dir) if out_dir.is_dir() else (out_dir.parent,):
            with tempfile.TemporaryFile(dir=folder):
                pass
    except OSError as error:
        raise RunError(f"{out_dir}: cannot write there: {error.strerror or error}") from None
