"""What a submission did to the autograded test cells, compared with the released notebook.

nbgrader restores a test cell whose source was changed, but a test cell that was deleted, or whose
nbgrader metadata was stripped, simply scores 0 without a word. These checks find all three, so the
grade report can flag them instead of skipping them silently.
"""
import json
from pathlib import Path


def _grade_cells(nb):
    """{grade_id: cell} of the autograded test cells (graded code cells that are not solutions)."""
    cells = {}
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("grade") and not meta.get("solution"):
            cells.setdefault(meta.get("grade_id"), []).append(cell)
    return cells


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def check(released_path, submitted_path):
    """A list of findings, each a short sentence; empty when the test cells are intact."""
    released = _grade_cells(json.loads(Path(released_path).read_text(encoding="utf-8")))
    try:
        submitted_nb = json.loads(Path(submitted_path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return [f"the notebook is not valid JSON ({err}); nothing could be graded"]
    submitted = _grade_cells(submitted_nb)
    plain_sources = {_source(c).strip() for c in submitted_nb.get("cells", [])
                     if not c.get("metadata", {}).get("nbgrader")}
    findings = []
    for grade_id, (cell, *_) in released.items():
        if grade_id not in submitted:
            if _source(cell).strip() in plain_sources:
                findings.append(f"test cell {grade_id}: nbgrader metadata stripped (scored 0)")
            else:
                findings.append(f"test cell {grade_id}: deleted (scored 0)")
        elif len(submitted[grade_id]) > 1:
            findings.append(f"test cell {grade_id}: duplicated {len(submitted[grade_id])} times")
        elif _source(submitted[grade_id][0]) != _source(cell):
            findings.append(f"test cell {grade_id}: modified (restored before grading)")
    return findings
