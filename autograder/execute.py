"""Execute one notebook in the current directory: the notebook arrives on stdin, the executed
notebook leaves on stdout. Run inside autograder.jail, as the only program that touches student code.

    python -m autograder.execute --cell-timeout 30 < notebook.ipynb > executed.ipynb

The notebook never exists as a file in the working copy (its hidden tests stay out of the student
code's reach), and the kernel gets /dev/null for stdout and stderr: stdout here is a private
descriptor that student code cannot write a forged notebook into. Each cell's output is capped,
so a cell that prints without end costs memory only up to the cap.
"""
import argparse
import os
import sys
import traceback

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

MAX_CELL_OUTPUT = 200_000  # characters kept per cell; the rest is replaced by a note


def _error(name, text):
    return nbformat.v4.new_output("error", ename=name, evalue=text, traceback=[])


class GraderClient(NotebookClient):
    """nbclient with three changes. Each cell keeps at most MAX_CELL_OUTPUT characters of output.
    A cell that runs out of time is interrupted, recorded as an error, and the run goes on; but if
    the next cell times out as well (the interrupt was swallowed, so the kernel never came back),
    the run stops there: the cells not run score nothing, the earlier ones keep theirs. A cell
    during which the kernel died says so."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.truncated = set()  # indices of cells whose output reached the cap
        self.timeouts_in_a_row = 0

    def output(self, outs, msg, display_id, cell_index):
        if cell_index in self.truncated:
            return None  # over the cap already: drop the rest
        out = super().output(outs, msg, display_id, cell_index)
        budget = MAX_CELL_OUTPUT
        for o in list(outs):
            size = len(o["text"]) if "text" in o else len(str(o.get("data", "")))
            if size > budget:
                if "text" in o:
                    o["text"] = o["text"][:budget]
                else:
                    outs.remove(o)
                outs.append(nbformat.v4.new_output("stream", name="stdout", text=(
                    f"\n[output truncated by the grader after {MAX_CELL_OUTPUT:,} characters]\n")))
                self.truncated.add(cell_index)
                break
            budget -= size
        return out

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        timeouts = self.timeouts_in_a_row
        try:
            result = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            cell.outputs.append(_error("DeadKernelError", "the kernel died while running this cell"))
            raise
        if self.timeouts_in_a_row == timeouts:
            self.timeouts_in_a_row = 0  # this cell finished in time
        return result

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timeouts_in_a_row += 1
        if cell is not None:
            cell.outputs.append(_error("TimeoutError", (
                f"the cell ran longer than {timeout} s and was interrupted"
                if self.timeouts_in_a_row == 1 else "not run: the kernel ignored the interrupt "
                "of the cell before, so the run stopped")))
        if self.timeouts_in_a_row > 1:
            raise CellTimeoutError.error_from_timeout_and_cell(
                "the kernel did not come back after an interrupt", timeout, cell)
        return await super()._async_handle_timeout(timeout, cell)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="autograder.execute")
    parser.add_argument("--cell-timeout", type=int, default=30)
    parser.add_argument("--startup-timeout", type=int, default=120)
    args = parser.parse_args(argv)
    notebook = nbformat.reads(sys.stdin.read(), as_version=4)
    result = os.fdopen(os.dup(1), "w")  # private: not inherited by the kernel
    sys.stderr = os.fdopen(os.dup(2), "w")  # the runner's own errors still reach the grader
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    client = GraderClient(notebook, timeout=args.cell_timeout, startup_timeout=args.startup_timeout,
                          kernel_name="python3", allow_errors=True, record_timing=False,
                          interrupt_on_timeout=True,
                          error_on_timeout={"ename": "TimeoutError", "evalue": "interrupted",
                                            "traceback": []},
                          resources={"metadata": {"path": os.getcwd()}})
    try:
        client.execute()
    except Exception as err:  # noqa: BLE001 - a dead kernel or a swallowed interrupt: keep what ran
        notebook.metadata["grader_error"] = f"{type(err).__name__}: {str(err)[-500:]}"
        traceback.print_exc(limit=3)
    result.write(nbformat.writes(notebook))
    result.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
