"""The grading hand-off between the grader and the process that runs a student's code: messages of a
JSON header and plain NumPy arrays, on a pipe (never a file the student's code could replace by a
link, a FIFO or a device): to the harness the cells, then, after its READY byte, the inputs; back
the answers.

    message = b"CGH1" + 8-byte length + JSON {"meta": {...}, "arrays": [names]} + one .npy record per name

The reader trusts nothing: the header and every array header are bounded, only boolean, integer and
float arrays are accepted (never objects, so nothing is unpickled), and each array's size is checked
against what is left of the budget before anything is allocated. Any fault is a HandoffError.
This file is also copied into the jail, where the harness writes with it: it needs NumPy alone.
"""
import io
import json
import struct

import numpy as np
from numpy.lib import format as npy

MAGIC = b"CGH1"
MAX_HEADER = 1 << 20
MAX_BYTES = 256 * 1024 * 1024  # all arrays of one message together
PLAIN_KINDS = "biuf"


class HandoffError(ValueError):
    """The message is not one this module wrote, or it is larger than allowed."""


def write(stream, meta, arrays):
    """Write meta (JSON-able) and {name: array-like} to a binary stream."""
    values = {name: np.asarray(value, order="C") for name, value in arrays.items()}
    for name, value in values.items():  # all checked before a byte is written
        if value.dtype.kind not in PLAIN_KINDS or value.dtype.hasobject:
            raise HandoffError(f"{name}: only boolean, integer and float arrays are handed over, "
                               f"got {value.dtype}")
    header = json.dumps({"meta": meta, "arrays": list(values)}).encode()
    stream.write(MAGIC + struct.pack("<Q", len(header)) + header)
    for value in values.values():
        record = io.BytesIO()  # np.save to a real file would bypass the stream's buffer
        npy.write_array(record, value, allow_pickle=False)
        stream.write(record.getbuffer())
    stream.flush()


def _exactly(stream, n):
    data = stream.read(n)
    if len(data) != n:
        raise HandoffError(f"the message ends early: {len(data)} of {n} bytes")
    return data


def read(stream, max_bytes=MAX_BYTES):
    """(meta, {name: array}) from a binary stream, within max_bytes of array data."""
    if _exactly(stream, len(MAGIC)) != MAGIC:
        raise HandoffError("not a grading hand-off message")
    (length,) = struct.unpack("<Q", _exactly(stream, 8))
    if length > MAX_HEADER:
        raise HandoffError(f"a header of {length} bytes (at most {MAX_HEADER})")
    try:
        header = json.loads(_exactly(stream, length))
        meta, names = header["meta"], header["arrays"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TypeError("array names")
    except (ValueError, KeyError, TypeError) as err:
        raise HandoffError(f"an unreadable header: {err}") from None
    arrays, budget = {}, max_bytes
    for name in names:
        try:
            version = npy.read_magic(stream)
            reader = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}[version]
            shape, fortran, dtype = reader(stream, max_header_size=10_000)
        except (ValueError, KeyError, struct.error) as err:
            raise HandoffError(f"{name}: not a plain .npy array ({err})") from None
        if dtype.kind not in PLAIN_KINDS or dtype.hasobject:
            raise HandoffError(f"{name}: dtype {dtype} is not a plain number type")
        if not all(isinstance(n, int) and n >= 0 for n in shape):
            raise HandoffError(f"{name}: an impossible shape {shape}")
        count = 1
        for n in shape:
            count *= n
        size = count * dtype.itemsize
        if size > budget:
            raise HandoffError(f"{name}: {size} bytes of data, over what is left ({budget})")
        budget -= size
        data = np.frombuffer(_exactly(stream, size), dtype=dtype, count=count)
        try:
            arrays[name] = data.reshape(shape, order="F" if fortran else "C")
        except ValueError as err:  # whatever numpy finds wrong with a forged header
            raise HandoffError(f"{name}: {err}") from None
    return meta, arrays


def encode(meta, arrays):
    buffer = io.BytesIO()
    write(buffer, meta, arrays)
    return buffer.getvalue()


def decode(data, max_bytes=MAX_BYTES):
    stream = io.BytesIO(data)
    message = read(stream, max_bytes)
    if stream.read(1):
        raise HandoffError("bytes after the end of the message")
    return message
