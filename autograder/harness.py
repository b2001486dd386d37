"""The decisive answers for one test, computed in a jail of their own.

Runs inside autograder.jail with a grading edition of course_lib on its path: the library without
the implementations this test grades, so no spelling of any name reaches them. Two hand-off
messages come on stdin. The first holds the setup and answer cells to run and the test's hidden
code, but no input: the cells run in an IPython shell, each interrupted (KeyboardInterrupt, as a
kernel's interrupt) after the notebook's per-cell seconds; then the harness writes one READY byte
to a private copy of stdout and only then reads the second message, the grader's inputs. The
grader sends the inputs only after the first byte of stdout and starts the answers' clock (and
lowers the CPU quota) at it, whoever wrote it: this process is the submission's, and a cell can
reach its pipes and write it early, which only starts the clock early. The hidden code's
`checks.answer(grade_id, compute)` calls compute on each configuration of inputs (c0.*, c1.*, ...;
again on their float32 copies when the test checks dtypes), and the answers go back as one
hand-off message after the READY byte.
Whatever the student's code prints goes nowhere; nothing it raises is passed on beyond the
exception's built-in type name.

This file and handoff.py are copied into the jail; they import nothing from the grader.
"""
import builtins
import os
import signal

READY = b"R"  # the cells ran: send the inputs (autograder.worker.decide)


def _name(error):
    """The exception's type name if it is a built-in one, else a neutral word: nothing the
    student's code chose leaves the jail as text."""
    kind = type(error)
    return kind.__name__ if getattr(builtins, kind.__name__, None) is kind else "an exception"


def _values(arrays, float32=False):
    """Inputs as the compute functions take them: 0-d arrays as Python numbers."""
    values = {}
    for name, value in arrays.items():
        if float32 and value.dtype.kind == "f":
            value = value.astype("float32")
        values[name] = value.item() if value.ndim == 0 else value.copy()
    return values


# A backward pass is graded from its cache: the learner's own forward passes raise in its test
# (their forward differentiated numerically would pass for a backward they never wrote). The
# message starts with this; cases.decided names the function from it.
FORWARD_CALLED = "called a forward pass: "


def block(ns, names):
    """Every function of ns named in `names` raises NotImplementedError(FORWARD_CALLED + name)
    when called, under any name or alias that holds it (its code is swapped, not its binding).
    Returns the undo (the learner's self-check puts the code back)."""
    import types
    undo = []
    for name in names:
        function = ns.get(name)
        if not isinstance(function, types.FunctionType):
            continue
        scope = {}
        exec(f"def stub(*args, **kwargs):\n    raise NotImplementedError({FORWARD_CALLED + name!r})", scope)
        try:
            undo.append((function, function.__code__))
            function.__code__ = scope["stub"].__code__
        except ValueError:  # a closure: its cells cannot go with another code; the name at least
            undo.pop()
            undo.append((ns, name, function))
            ns[name] = scope["stub"]

    def restore():
        for entry in reversed(undo):
            if len(entry) == 2:
                entry[0].__code__ = entry[1]
            else:
                entry[0][entry[1]] = entry[2]
    return restore


def blocked_call(error):
    """FORWARD_CALLED + name if the error is a blocked forward's, else None."""
    text = str(error) if isinstance(error, NotImplementedError) else ""
    return text if text.startswith(FORWARD_CALLED) else None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_cells(shell, cells, seconds):
    """Indices of the cells that failed, each run with the notebook's per-cell limit: one past it
    is interrupted, counts as failed, and the run goes on, as in the notebook."""
    failed = []
    for i, code in enumerate(cells):
        try:
            try:
                signal.signal(signal.SIGALRM, _interrupt)  # again: a cell may have replaced it
                if seconds:
                    signal.setitimer(signal.ITIMER_REAL, seconds)
                ok = shell.run_cell(code, store_history=False, silent=True).success
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except KeyboardInterrupt:  # landed outside the cell's code (IPython's own, or the finally)
            signal.setitimer(signal.ITIMER_REAL, 0)
            ok = False
        if not ok:
            failed.append(i)
    return failed


def main():
    import handoff
    # private copies: the hand-off's pipes, out of the student's code's way (its fds 0-2 go nowhere)
    source, out = os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "wb")
    meta, _ = handoff.read(source)  # no inputs in this one
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(quiet, fd)
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="NoColor")
    shell.enable_gui = lambda gui=None: None  # as a kernel does: `%matplotlib inline` must not stop a cell
    failed = run_cells(shell, meta["cells"], meta.get("cell_seconds"))
    block(shell.user_ns, meta.get("blocks", ()))
    out.write(READY)
    out.flush()
    _, inputs = handoff.read(source)
    answers = {}

    def answer(grade_id, compute):
        if grade_id == meta["grade_id"] and not answers:
            for j in range(meta["configurations"]):  # inputs c0.x, c0.w, ..., c1.x, ...
                config = {name.split(".", 1)[1]: v for name, v in inputs.items() if name.startswith(f"c{j}.")}
                for prefix, float32 in (("", False), ("f32_", True))[:1 + bool(meta["float32"])]:
                    result = compute(**_values(config, float32))
                    for i, value in enumerate(result if isinstance(result, tuple) else (result,)):
                        answers[f"c{j}.{prefix}out{i}"] = value

    import course_lib.checks
    course_lib.checks.answer = answer
    result = shell.run_cell(meta["hidden"], store_history=False, silent=True)
    error = result.error_in_exec or result.error_before_exec
    reply = {"failed_cells": failed, "error": (blocked_call(error) or _name(error)) if error else None}
    try:
        handoff.write(out, reply, answers)
    except Exception:  # noqa: BLE001 - whatever the returned objects do when converted
        handoff.write(out, dict(reply, error="not plain arrays"), {})  # cases.NOT_PLAIN
    out.close()
    os._exit(0)  # no atexit hook of the student's code runs after the answers


if __name__ == "__main__":
    main()
