"""A self-check's results: per test, the points earned and the problems, in the grader's words."""
from dataclasses import dataclass, field

NOT_WRITTEN = " is not written yet"


@dataclass
class Result:
    grade_id: str
    functions: list
    points: float
    earned: float = 0.0
    problems: list = field(default_factory=list)
    note: str = ""  # for the learner only: what their own exception said (the grader keeps only its type)

    @property
    def passed(self):
        return not self.problems


@dataclass
class Report:
    assignment: str
    results: list
    seconds: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)  # lines for the learner below the advice

    @property
    def earned(self):
        return sum(r.earned for r in self.results)

    @property
    def points(self):
        return sum(r.points for r in self.results)

    @property
    def passed(self):
        return all(r.passed for r in self.results)

    def first_failure(self):
        """The test to fix first: the first failing one, in the notebook's order, among the functions
        written (a wrong answer is nearer to points than a blank one), else the first failing one."""
        failing = [r for r in self.results if not r.passed]
        return next((r for r in failing if NOT_WRITTEN not in r.note), failing[0] if failing else None)

    def not_written(self):
        return [r for r in self.results if NOT_WRITTEN in r.note]

    def text(self, width=110, verbose=False):
        """The table (each test's first problem, cut to the width) and what to fix first; verbose:
        every problem of every failing test in full, and what the learner's code said."""
        rows = [(r.grade_id, ", ".join(r.functions) or "-", f"{r.earned:g}/{r.points:g}",
                 "ok" if r.passed else ("not written yet; " if NOT_WRITTEN in r.note else "") + r.problems[0])
                for r in self.results]
        w0 = max([4] + [len(r[0]) for r in rows])
        w1 = max([8] + [len(r[1]) for r in rows])
        lines = [f"{self.assignment}: {self.earned:g} of {self.points:g} autograded points, on fresh inputs, "
                 f"as the grader checks them (written answers are graded by hand)", "",
                 f"{'test':<{w0}}  {'function':<{w1}}  points  first problem"]
        room = max(30, width - w0 - w1 - 12)
        for gid, fn, pts, first in rows:
            first = first if len(first) <= room else first[:room - 3] + "..."
            lines.append(f"{gid:<{w0}}  {fn:<{w1}}  {pts:<6}  {first}")
        lines.append("")
        failed = self.first_failure()
        if failed is None:
            lines.append("Everything passes.")
        else:
            what = ", ".join(failed.functions) or failed.grade_id
            lines.append(f"Fix {what} first ({failed.grade_id}, {failed.earned:g} of {failed.points:g} points): "
                         f"{failed.problems[0]}")
            lines += [f"  also: {p}" for p in failed.problems[1:3]]
            if failed.note:
                lines.append(f"  your code said: {failed.note}")
        unwritten = [", ".join(r.functions) or r.grade_id for r in self.not_written()]
        if unwritten:
            lines.append(f"Not written yet: {'; '.join(dict.fromkeys(unwritten))}.")
        if verbose:
            for r in (r for r in self.results if not r.passed):
                lines += ["", f"{r.grade_id} ({', '.join(r.functions) or '-'}, {r.earned:g} of {r.points:g} points):"]
                lines += [f"  - {p}" for p in r.problems]
                if r.note:
                    lines.append(f"  your code said: {r.note}")
        elif not self.passed:
            lines.append("(--verbose, or self_check().text(verbose=True): every problem in full)")
        lines += self.notes
        if self.seconds:
            lines.append("(" + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()) + ")")
        return "\n".join(lines)

    __str__ = text

    def __repr__(self):
        return self.text()

    def _repr_pretty_(self, printer, cycle):  # IPython shows the text as it is
        printer.text(self.text())

    def as_dict(self):
        return {"assignment": self.assignment, "seconds": self.seconds, "notes": self.notes,
                "results": [vars(r) for r in self.results]}

    @classmethod
    def from_dict(cls, data):
        return cls(data["assignment"], [Result(**r) for r in data["results"]], data.get("seconds", {}),
                   data.get("notes", []))

