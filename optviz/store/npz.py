"""One deterministic npz writer (the same arrays give the same bytes, run after run) and one
validating reader, so a damaged file is one line naming it, never a traceback."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Mapping

import numpy as np

from ..atomic import atomic_path
from ..errors import RunError

# bool, signed and unsigned integers, floats: what optviz stores; never objects.
NUMERIC_KINDS = "biuf"
# Bytes of a .npy file beyond its data (its header), at most: what decides zip64 for an entry.
ZIP64_HEADROOM = 1 << 16


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``path`` atomically as an ``.npz`` that ``np.load`` reads without pickle.

    Fixed zip timestamps make identical arrays byte-identical files. Compression level 1:
    float records barely compress further, and the default takes twice as long. Each
    array is streamed into the archive, never copied whole into a buffer first.
    """
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED,
                                                         compresslevel=1) as archive:
        for name, array in arrays.items():
            array = np.asanyarray(array)
            # An entry opened by name is dated 1980-01-01; zip64 as writestr would pick it for this size.
            large = (array.nbytes + ZIP64_HEADROOM) * 1.05 > zipfile.ZIP64_LIMIT
            with archive.open(f"{name}.npy", "w", force_zip64=large) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return path


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, read without pickle.

    A file that is missing, empty, truncated, not a zip or holding object arrays is a
    :class:`RunError` naming the file and what is wrong with it.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            head = file.read(4)
    except OSError as error:
        raise RunError(f"{path}: cannot be read ({error.strerror or _reason(error)})") from None
    if not head:
        raise RunError(f"{path}: the file is empty")
    # A zip with members, or an empty one; np.load would try anything else as a .npy or a
    # pickle and say so confusingly.
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise RunError(f"{path}: not an .npz archive (no zip header)")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise RunError(f"{path}: not a readable .npz archive ({_reason(error)})") from None
    arrays = {}
    with archive:
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except ValueError as error:  # an object array: pickled, which optviz never writes nor reads
                raise RunError(f"{path}: array {name!r} cannot be read without pickle ({_reason(error)})") from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise RunError(f"{path}: array {name!r} is damaged ({_reason(error)})") from None
    return arrays


def _reason(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def checked_array(arrays: Mapping[str, np.ndarray], path: Path, name: str, *, text: bool = False,
                  shape: tuple[int | None, ...] | None = None, ndim: int | None = None) -> np.ndarray:
    """``arrays[name]``, checked: present, numeric (or text with ``text``), and of ``shape``
    (``None`` matches any length) or of ``ndim`` dimensions; a :class:`RunError` naming ``path`` otherwise."""
    if name not in arrays:
        raise RunError(f"{path}: array {name!r} is missing")
    array = arrays[name]
    if text and array.dtype.kind != "U":
        raise RunError(f"{path}: array {name!r} must hold text, got dtype {array.dtype}")
    if not text and array.dtype.kind not in NUMERIC_KINDS:
        raise RunError(f"{path}: array {name!r} must hold numbers, got dtype {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise RunError(f"{path}: array {name!r} must have {ndim} dimension(s), got shape {array.shape}")
    if shape is not None and (array.ndim != len(shape) or
                              any(want is not None and got != want for got, want in zip(array.shape, shape))):
        expected = "(" + ", ".join("*" if want is None else str(want) for want in shape) + ("," if len(shape) == 1 else "") + ")"
        raise RunError(f"{path}: array {name!r} has shape {array.shape}, but the other arrays say {expected}")
    return array
