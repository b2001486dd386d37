"""What the notebook runner keeps of a kernel's messages: every field the kernel chose is rebuilt
to nbformat's schema, so a hostile kernel cannot make the autograded notebook one that nbconvert
refuses (the student's feedback, and the class's feedback run, would fail)."""
import nbformat

from autograder.execute import inert_outputs


def test_kernel_chosen_fields_are_rebuilt_to_the_schema():
    cell = nbformat.v4.new_code_cell("x")
    cell["execution_count"] = "<script>alert(1)</script>"
    cell["outputs"] = [
        {"output_type": "execute_result", "execution_count": "<b>7</b>", "data": {"text/plain": ["4", "2"]},
         "metadata": {"x": 1}},
        {"output_type": "stream", "name": "<script>", "text": "printed"},
        {"output_type": "error", "ename": 3, "evalue": None, "traceback": [{"a": 1}, "line"]},
        {"output_type": "error", "ename": "E", "evalue": "v", "traceback": "not a list"},
        {"output_type": "made-up", "data": {"text/plain": "?"}},
        "not even a dict",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [cell, nbformat.v4.new_markdown_cell("text")]  # as the runner has it: never validated
    nb = inert_outputs(nb)
    nbformat.validate(nb)  # raises if anything is off-schema
    kept = nb.cells[0]
    assert kept.execution_count is None  # a count the kernel made up: the cell counts as not run
    assert [o.output_type for o in kept.outputs] == ["execute_result", "stream", "error", "error"]
    result, stream, error, _ = kept.outputs
    assert result.execution_count is None and result.data == {"text/plain": "42"} and result.metadata == {}
    assert stream.name == "stdout" and stream.text == "printed"
    assert error.ename == "3" and error.traceback == ["{'a': 1}", "line"]
    nbformat.reads(nbformat.writes(nb), as_version=4)  # and it round-trips as written


def test_a_real_count_is_kept():
    cell = nbformat.v4.new_code_cell("x", execution_count=3, outputs=[
        nbformat.v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=3)])
    nb = inert_outputs(nbformat.v4.new_notebook(cells=[cell]))
    assert nb.cells[0].execution_count == 3 and nb.cells[0].outputs[0].execution_count == 3
    for odd in (True, -1, 2**40, 3.0):
        cell["execution_count"] = odd
        nb.cells = [cell]
        assert inert_outputs(nb).cells[0].execution_count is None, odd
