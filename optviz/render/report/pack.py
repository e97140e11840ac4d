"""The page's data as compact text: numpy arrays packed into one gzip-compressed, base64 float32 block.

JSON of 1024 sweep cells' paths and loss curves as decimal text is several megabytes; as
float32 rounded to 14 significant bits and gzip-compressed it is a fraction of that. The
page's script inflates the block (``DecompressionStream('gzip')``) and puts each array back
where its ``{"$f32": [offset, length]}`` marker stands.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
from typing import Any

import numpy as np

# Mantissa bits of a float32 kept: 14 of 23, about 4 significant digits, as precise as a
# figure can show and far better compressed than all of them.
MANTISSA_BITS = 14


def rounded(values: np.ndarray) -> np.ndarray:
    """``values`` as float32 with the low mantissa bits cleared (NaN and infinities kept)."""
    words = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).copy()
    drop = 23 - MANTISSA_BITS
    finite = np.isfinite(words.view(np.float32))
    half = np.uint32(1 << (drop - 1))
    mask = np.uint32(0xFFFFFFFF ^ ((1 << drop) - 1))
    words[finite] = (words[finite] + half) & mask  # round to nearest; carries into the exponent are right
    return words.view(np.float32)


def pack(data: Any) -> tuple[str, str]:
    """``data`` as JSON text with its arrays replaced by markers, and the arrays' block (base64 of gzip).

    Floats outside arrays that are not finite become null, as JSON has no NaN.
    """
    chunks: list[np.ndarray] = []
    offset = 0
    seen: dict[bytes, list[int]] = {}

    def walk(value: Any) -> Any:
        nonlocal offset
        if isinstance(value, np.ndarray):
            array = rounded(value.ravel())
            key = array.tobytes()
            if key not in seen:
                chunks.append(array)
                seen[key] = [offset, int(array.size)]
                offset += int(array.size)
            return {"$f32": seen[key]}
        if isinstance(value, dict):
            return {str(key): walk(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(item) for item in value]
        if isinstance(value, (float, np.floating)):
            return float(value) if math.isfinite(value) else None
        if isinstance(value, np.integer):
            return int(value)
        return value

    text = json.dumps(walk(data), separators=(",", ":"))
    block = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    planes = block.astype("<f4").view(np.uint8).reshape(-1, 4).T.tobytes()
    return text, base64.b64encode(gzip.compress(planes, compresslevel=9, mtime=0)).decode()


def gzipped(text: str) -> str:
    """``text`` gzip-compressed and base64-encoded, for the page to inflate."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)).decode()
