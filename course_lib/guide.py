"""Hints and walkthroughs for learners working on their own.

Below every exercise of a notebook, `guide.show("02_svm", "naive")` shows two buttons:

* **hints**, revealed one at a time ("Show hint 1 of 3", then the next); the last one stops short
  of the answer;
* a **walkthrough** (the reasoning, then the instructor's code), shown only when asked for twice:
  "I have tried: show the walkthrough", then "Show it". Once the learner's own check of the
  exercise has passed (`mark_passed(assignment, grade_id)`, a hook for the course's checks, which
  records it in the notebook's folder, PASSED_FILE), it opens at the first click.

The data comes from `course_lib/guide_data/<assignment>.json`, which `course-grade release`
generates from `solutions/<assignment>/guide.toml` and the instructor's answer cells. The
grader's jails get the library without that folder (the walkthroughs hold the answers): there,
and wherever the data is missing, `show` prints a one-line note instead. Nothing here raises in
a notebook.
"""
import json
import weakref
from importlib import resources
from pathlib import Path

DATA = "guide_data"  # the folder in course_lib; autograder.edition keeps it out of every jail
CONFIRM = ("The walkthrough shows the full solution. Reading it before you have really tried "
           "takes the exercise away from you: are you sure?")

_passed = set()  # (assignment, grade_id) whose own check passed in this kernel
_live = []  # weak references to the exercise guides shown, to unlock them on mark_passed


def load(assignment):
    """The guide data of an assignment (a dict), or None where it is not available."""
    try:
        text = resources.files("course_lib").joinpath(DATA, f"{assignment}.json").read_text("utf-8")
        data = json.loads(text)
    except Exception:  # noqa: BLE001 - missing folder or file, unreadable: no guide, no error
        return None
    return data if isinstance(data, dict) and isinstance(data.get("exercises"), dict) else None


def exercise(assignment, grade_id):
    """{"hints": [...], "walkthrough": markdown, "solution": code} of one exercise, or None."""
    data = load(assignment)
    entry = (data or {}).get("exercises", {}).get(grade_id)
    return entry if isinstance(entry, dict) else None


def reading(assignment):
    """[(title, url), ...]: the lecture notes that go with the notebook."""
    data = load(assignment) or {}
    return [(r["title"], r["url"]) for r in data.get("reading", []) if isinstance(r, dict)]


def _unavailable(assignment, grade_id):
    try:
        data = load(assignment)
    except Exception:  # noqa: BLE001 - a note, never an error
        data = None
    if data and data.get("exercises"):  # the data is here: the id is not one of its exercises
        print(f"(No exercise {grade_id!r} in {assignment}: its exercises are "
              f"{', '.join(sorted(data['exercises']))}, the grade ids of its answer cells.)")
        return
    known = _assignments()
    if known and assignment not in known:  # the data is here: the name is not one of the course's
        print(f"(No assignment {assignment!r} in the guide: the course's are {', '.join(known)}.)")
        return
    print(f"(Hints and walkthrough for {assignment} / {grade_id} are not available here: "
          f"this copy of course_lib has no guide data for {assignment}.)")


def _assignments():
    try:
        return sorted(p.name.removesuffix(".json") for p in resources.files("course_lib").joinpath(DATA).iterdir()
                      if p.name.endswith(".json"))
    except Exception:  # noqa: BLE001 - no guide data at all (a grading jail)
        return []


def _box(assignment, grade_id, **parts):
    """The exercise's guide widget with `parts` (hints=, walkthrough=), or a printed note where
    the data or the widgets are not available: a guide never breaks a notebook."""
    try:
        entry = exercise(assignment, grade_id)
        if entry is None:
            return _unavailable(assignment, grade_id)
        return ExerciseGuide(assignment, grade_id, entry, **parts).box
    except Exception:  # noqa: BLE001 - a guide must never break a notebook
        return _unavailable(assignment, grade_id)


def show(assignment, grade_id):
    """The hints and the walkthrough of one exercise, as one widget (or a printed note where the
    data or the widgets are not available)."""
    return _box(assignment, grade_id)


def hints(assignment, grade_id):
    """Only the hints of one exercise."""
    return _box(assignment, grade_id, walkthrough=False)


def walkthrough(assignment, grade_id):
    """Only the walkthrough of one exercise (behind its confirmation)."""
    return _box(assignment, grade_id, hints=False)


# the exercises whose check passed, kept in the notebook's folder (the kernel's working folder):
# a restart, or a pass by `course-lib check` in a terminal, still opens their walkthroughs
PASSED_FILE = ".course-lib-passed.json"


def _recorded(folder=None):
    try:
        data = json.loads((Path(folder or ".") / PASSED_FILE).read_text(encoding="utf-8"))
        return {(a, g) for a, ids in data.items() for g in ids}
    except Exception:  # noqa: BLE001 - none yet, or unreadable: nothing recorded
        return set()


def _record(pairs, folder=None):
    try:
        every = _recorded(folder) | set(pairs)
        data = {}
        for a, g in sorted(every):
            data.setdefault(a, []).append(g)
        path = Path(folder or ".") / PASSED_FILE
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        partial.replace(path)
    except Exception:  # noqa: BLE001 - a read-only folder: the pass holds in this kernel only
        pass


def mark_passed(assignment, grade_id, folder=None):
    """The learner's own check of this exercise passed: its walkthrough opens without the
    confirmation step, in the guides already shown and in those shown later, and after a
    restart (it is recorded in folder, default the kernel's working folder: the notebook's)."""
    try:
        if not (isinstance(assignment, str) and isinstance(grade_id, str)):
            return
        _passed.add((assignment, grade_id))
        _record([(assignment, grade_id)], folder)
        for ref in list(_live):
            guide = ref()
            if guide is None:
                _live.remove(ref)
            elif (guide.assignment, guide.grade_id) == (assignment, grade_id):
                guide.unlock()
    except Exception:  # noqa: BLE001 - a hook of the checks: never raise
        pass


def passed(assignment, grade_id):
    return (assignment, grade_id) in _passed or (assignment, grade_id) in _recorded()


def walkthrough_markdown(entry):
    """The walkthrough as shown: the reasoning, then the instructor's code."""
    text = entry.get("walkthrough", "").strip()
    code = entry.get("solution", "").strip()
    return f"{text}\n\n**The instructor's solution:**\n\n```python\n{code}\n```\n" if code else text


class ExerciseGuide:
    """The widgets of one exercise. `box` is what the notebook displays; the buttons' actions are
    methods (`next_hint`, `ask`, `confirm`, `cancel`), so that tests can drive them."""

    def __init__(self, assignment, grade_id, entry, hints=True, walkthrough=True):
        import ipywidgets as w
        from IPython.display import Markdown
        self._markdown = Markdown
        self.assignment, self.grade_id = assignment, grade_id
        self.hint_texts = [str(h) for h in entry.get("hints", [])]
        self.entry = entry
        self.shown = 0
        self.opened = False
        self.hint_button = w.Button(icon="lightbulb-o", layout=w.Layout(width="auto"))
        self.hint_button.on_click(lambda _: self.next_hint())
        self.hint_area = w.Output()
        self.walk_button = w.Button(layout=w.Layout(width="auto"))
        self.walk_button.on_click(lambda _: self.ask())
        self.question = w.HTML(f"<i>{CONFIRM}</i>")
        self.yes = w.Button(description="Show it", button_style="warning")
        self.no = w.Button(description="Not yet")
        self.yes.on_click(lambda _: self.confirm())
        self.no.on_click(lambda _: self.cancel())
        self.confirm_row = w.HBox([self.question, self.yes, self.no], layout=w.Layout(display="none"))
        self.walk_area = w.Output()
        rows = []
        if hints and self.hint_texts:
            rows += [self.hint_button, self.hint_area]
        if walkthrough:
            rows += [self.walk_button, self.confirm_row, self.walk_area]
        self.box = w.VBox(rows)
        self.box.guide = self
        self._label()
        _live.append(weakref.ref(self))

    def _label(self):
        n = len(self.hint_texts)
        if self.shown < n:
            self.hint_button.description = f"Show hint {self.shown + 1} of {n}"
        else:
            self.hint_button.description = f"All {n} hints shown"
            self.hint_button.disabled = True
        if self.opened:
            self.walk_button.description = "Walkthrough shown below"
            self.walk_button.disabled = True
        elif passed(self.assignment, self.grade_id):
            self.walk_button.description = "Your check passed: show the walkthrough"
        else:
            self.walk_button.description = "I have tried: show the walkthrough"

    def next_hint(self):
        if self.shown < len(self.hint_texts):
            n = len(self.hint_texts)
            text = f"**Hint {self.shown + 1} of {n}.** {self.hint_texts[self.shown]}"
            self.hint_area.append_display_data(self._markdown(text))
            self.shown += 1
        self._label()

    def ask(self):
        """The first click: straight to the walkthrough once the learner's check passed, else the
        confirmation question."""
        if self.opened:
            return
        if passed(self.assignment, self.grade_id):
            return self.confirm()
        self.confirm_row.layout.display = "flex"

    def confirm(self):
        if not self.opened:
            self.opened = True
            self.walk_area.append_display_data(self._markdown(walkthrough_markdown(self.entry)))
        self.confirm_row.layout.display = "none"
        self._label()

    def cancel(self):
        self.confirm_row.layout.display = "none"

    def unlock(self):
        self._label()

    @property
    def revealed_hints(self):
        return self.hint_texts[:self.shown]
