"""Stubs that say what to write: nbgrader's ClearSolutions, with each `raise NotImplementedError()`
it leaves in a student's release naming the function or method it stands in for, so that running
an unfinished notebook (or a panel that calls the function) says what is missing."""
import re

from nbgrader.preprocessors import ClearSolutions

_STUB = re.compile(r"(?P<indent>[ \t]*)raise NotImplementedError\(\)[ \t]*")
_DEFINITION = re.compile(r"(?P<indent>[ \t]*)(?:async[ \t]+)?(?:def|class)[ \t]+(?P<name>\w+)")


def named_stubs(source, outside="this cell"):
    """source with every bare `raise NotImplementedError()` line given a message that names its
    enclosing definitions (`KNearestNeighbor.compute_distances_two_loops`), or `outside` for a
    stub outside any definition. Where one definition holds several, each says which part it is
    ("part 2 of 2"): a learner who wrote the first part would otherwise meet the same message
    again and think the first part was not taken."""
    lines = source.split("\n")
    stubs = {}  # line index: (its indentation, what it stands in for)
    for i, line in enumerate(lines):
        stub = _STUB.fullmatch(line)
        if not stub:
            continue
        names, indent = [], len(stub["indent"].expandtabs())
        for above in reversed(lines[:i]):
            found = _DEFINITION.match(above)
            if found and len(found["indent"].expandtabs()) < indent:
                names.insert(0, found["name"])
                indent = len(found["indent"].expandtabs())
        stubs[i] = (stub["indent"], ".".join(names) or outside)
    for i, (indent, what) in stubs.items():
        parts = [j for j, (_, other) in stubs.items() if other == what]
        part = f" (part {parts.index(i) + 1} of {len(parts)})" if len(parts) > 1 else ""
        lines[i] = (f'{indent}raise NotImplementedError("{what} is not written yet{part}: replace this line '
                    f'with your code")')
    return "\n".join(lines)


class NamedStubs(ClearSolutions):
    """ClearSolutions, then named_stubs on each code cell it cleared."""

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type == "code":
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            cell.source = named_stubs(cell.source, f"the cell {grade_id}" if grade_id else "this cell")
        return cell, resources


def preprocessors():
    """nbgrader's generate_assignment chain, with NamedStubs in place of ClearSolutions."""
    from nbgrader.converters import GenerateAssignment
    chain = GenerateAssignment.class_traits()["preprocessors"].default()
    return [NamedStubs if step is ClearSolutions else step for step in chain]
