"""The grading hand-off: what a student's process sends back is read without trusting it."""
import io
import struct

import numpy as np
import pytest

from autograder import handoff


def test_arrays_and_numbers_travel_both_ways():
    message = handoff.encode({"error": None}, {"out0": np.float64(2.5), "out1": np.arange(6.0).reshape(2, 3),
                                               "out2": np.array([1, 2], dtype=np.int32), "f32": np.float32(1)})
    meta, arrays = handoff.decode(message)
    assert meta == {"error": None}
    assert arrays["out0"].shape == () and arrays["out0"] == 2.5
    assert arrays["out1"].tolist() == [[0, 1, 2], [3, 4, 5]] and arrays["out2"].dtype == np.int32
    assert arrays["f32"].dtype == np.float32


def test_objects_are_neither_sent_nor_read():
    with pytest.raises(handoff.HandoffError):
        handoff.encode({}, {"out0": np.array([object()], dtype=object)})
    buffer = io.BytesIO()
    header = b'{"meta": {}, "arrays": ["out0"]}'
    buffer.write(handoff.MAGIC + struct.pack("<Q", len(header)) + header)
    np.lib.format.write_array(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(handoff.HandoffError, match="not a plain number type"):
        handoff.decode(buffer.getvalue())


def test_a_header_that_claims_more_than_the_budget_allocates_nothing():
    header = b'{"meta": {}, "arrays": ["out0"]}'
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + (
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }".ljust(117) + "\n").encode()
    with pytest.raises(handoff.HandoffError, match="over what is left"):
        handoff.decode(handoff.MAGIC + struct.pack("<Q", len(header)) + header + npy)
    with pytest.raises(handoff.HandoffError, match="header of"):
        handoff.decode(handoff.MAGIC + struct.pack("<Q", 10 ** 12))


@pytest.mark.parametrize("data", [b"", b"garbage", handoff.MAGIC, handoff.MAGIC + struct.pack("<Q", 5) + b"{",
                                  handoff.encode({}, {"a": np.zeros(3)})[:-4],
                                  handoff.encode({}, {"a": np.zeros(3)}) + b"more"])
def test_truncated_or_garbled_messages_are_errors(data):
    with pytest.raises(handoff.HandoffError):
        handoff.decode(data)


@pytest.mark.parametrize("shape", ["(0, -5, -5)", "(-1,)", "(2, -3)"])
def test_a_forged_header_with_an_impossible_shape_is_a_handoff_error(shape):
    header = b'{"meta": {}, "arrays": ["out0"]}'
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + (
        f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}".ljust(117) + "\n").encode()
    with pytest.raises(handoff.HandoffError):
        handoff.decode(handoff.MAGIC + struct.pack("<Q", len(header)) + header + npy + b"\0" * 48)


# ---------------------------------------------------------------- bounded.run's two steps
# A command's view of the exchange: what it had read when it wrote its first byte, then the rest.
TWO_STEP = """
import select, sys, time
first = sys.stdin.buffer.read(5)
time.sleep(0.3)  # the second message, were it sent early, would be waiting by now
early = select.select([sys.stdin], [], [], 0)[0]
sys.stdout.buffer.write(b"R" + first + (b"|early|" if early else b"|"))
sys.stdout.flush()
sys.stdout.buffer.write(sys.stdin.buffer.read())
"""


def test_the_second_message_is_sent_only_after_the_commands_first_byte():
    import sys

    from autograder import bounded
    calls = []
    outcome = bounded.run([sys.executable, "-c", TWO_STEP], b"cells", timeout=30,
                          then=(b"inputs", 30), on_ready=lambda: calls.append("ready"))
    assert outcome.returncode == 0 and not outcome.timed_out, outcome.stderr
    assert outcome.stdout == b"Rcells|inputs" and calls == ["ready"]


def test_a_command_that_never_reads_the_second_message_is_stopped_at_the_answers_time():
    import sys
    import time

    from autograder import bounded
    never = [sys.executable, "-c", "import sys, time\nsys.stdin.buffer.read(5)\nsys.stdout.buffer.write(b'R')\n"
             "sys.stdout.flush()\ntime.sleep(120)"]
    big = b"x" * (8 << 20)  # far more than a pipe holds: a writer that waited for it would hang
    for then, deadline in (((big, 1), None), ((big, 60), time.monotonic() + 1)):
        started = time.monotonic()
        outcome = bounded.run(never, b"cells", timeout=30, then=then, deadline=deadline, grace=1)
        assert outcome.timed_out and outcome.stdout == b"R"
        assert time.monotonic() - started < 10


def test_a_command_that_never_writes_ready_times_out_at_the_first_timeout():
    import sys
    import time

    from autograder import bounded
    calls = []
    started = time.monotonic()
    outcome = bounded.run([sys.executable, "-c", "import time; time.sleep(120)"], b"cells", timeout=1,
                          then=(b"inputs", 60), on_ready=lambda: calls.append("ready"), grace=1)
    assert outcome.timed_out and calls == [] and time.monotonic() - started < 10
    ended = bounded.run([sys.executable, "-c", "pass"], b"cells", timeout=30, then=(b"inputs", 60),
                        on_ready=lambda: calls.append("ready"))
    assert ended.returncode == 0 and not ended.timed_out and calls == []
