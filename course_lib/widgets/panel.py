"""What every panel is made of: rows of controls above a status line and output areas, actions
whose errors are shown in the panel, and output areas redrawn with a new figure, throttled."""
import html
import time
import traceback

from IPython.display import display

# What to do about an error raised by the code a panel calls (most often the student's own).
HINTS = {
    NotImplementedError: "a function this panel calls is not written yet: write it above, run its "
                         "cell, then try again",
    ValueError: "the message says which input is wrong; run the function in a cell of its own to "
                "see the whole traceback",
}
DEFAULT_HINT = "run the function in a cell of its own to see the whole traceback"


def error_html(err):
    """The error as the panel shows it: its type and message, where it was raised, and a hint."""
    frame = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    where = f" (in {frame.name}, line {frame.lineno})" if frame else ""
    hint = next((h for kind, h in HINTS.items() if isinstance(err, kind)), DEFAULT_HINT)
    return (f"<b style='color:#b00'>{html.escape(type(err).__name__)}</b>{html.escape(where)}: "
            f"{html.escape(str(err)) or '(no message)'}<br><i>{html.escape(hint)}</i>")


REG_CHOICES = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def reg_slider(value, description):
    """Regularisation strengths by decades, and 0 (which a log slider cannot reach)."""
    import ipywidgets as w
    options = [("0" if r == 0 else f"{r:g}", r) for r in REG_CHOICES]
    value = min(REG_CHOICES, key=lambda r: abs(r - value))
    return w.SelectionSlider(options=options, value=value, description=description)


def layout(rows, status, *areas, controls, **state):
    """A VBox of the control rows (each a list of widgets), then status and the areas. Labels get
    the width they need. The named controls, the status and the panel's state (result, image...)
    are attributes of the box, which the notebooks and the tests read."""
    import ipywidgets as w
    for row in rows:
        for control in row:
            if hasattr(control.style, "description_width"):
                control.style.description_width = "initial"
    panel = w.VBox([w.HBox(list(row)) for row in rows] + [status, *areas])
    panel.controls, panel.status = controls, status
    for name, value in state.items():
        setattr(panel, name, value)
    return panel


def shown_errors_in(status):
    """Decorator: the action, with any exception it raises shown in status instead of only in
    JupyterLab's log console, where a student would not look."""
    def wrap(action):
        def run(*args):
            try:
                action(*args)
            except Exception as err:  # the student's code may raise anything
                status.value = error_html(err)
        return run
    return wrap


def action_button(description, action, status):
    """A primary button that calls action() when clicked, disabled until it returns; an error
    it raises is shown in status."""
    import ipywidgets as w
    button = w.Button(description=description, button_style="primary")
    run = shown_errors_in(status)(action)

    def clicked(_):
        button.disabled = True
        try:
            run()
        finally:
            button.disabled = False

    button.on_click(clicked)
    return button


class YoursOrOurs:
    """The student's function where it is written, else the course's, with a note: a panel about
    the student's code runs their code, and still runs before they have written it. Only
    NotImplementedError (a release's stub) falls back; any other error is theirs to see."""

    def __init__(self, yours, ours, name):
        self.yours, self.ours, self.name = yours, ours, name
        self.note = ""

    def __call__(self, *args, **kwargs):
        if self.yours is not None and not self.note:
            try:
                return self.yours(*args, **kwargs)
            except NotImplementedError:
                self.note = f"your {self.name} is not written yet, so the course's is used"
        return self.ours(*args, **kwargs)


def notes(*items):
    """The fallback notes of some YoursOrOurs (or notes as text), as a line for the status ("" when
    there are none)."""
    said = [f.note if isinstance(f, YoursOrOurs) else f for f in items]
    said = [s for s in said if isinstance(s, str) and s]
    return "<br><i>" + "; ".join(html.escape(s) for s in said) + "</i>" if said else ""


def figure_html(figure, alt):
    """The figure as an <img> (PNG, inline) for an HTML widget: text and picture in one widget
    change together, where a separate output area would show the new text before the picture."""
    import base64
    import io
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}">'


def draw(area, figure):
    """Replace what the output area shows by figure (without flicker: cleared when it arrives)."""
    area.clear_output(wait=True)
    with area:
        display(figure)


class Throttled:
    """Calls draw_fn(*args) at most as often as keeps drawing to a third of the time: after a
    drawing that took d seconds, the next waits at least 2d (and min_gap). The first call draws at
    once; force=True draws regardless (the final state)."""

    def __init__(self, draw_fn, min_gap=0.2, clock=time.perf_counter):
        self.draw_fn, self.min_gap, self.clock = draw_fn, min_gap, clock
        self.next_time = None
        self.drawn = 0

    def __call__(self, *args, force=False):
        started = self.clock()
        if not force and self.next_time is not None and started < self.next_time:
            return
        self.draw_fn(*args)
        self.drawn += 1
        finished = self.clock()
        self.next_time = finished + max(self.min_gap, 2 * (finished - started))
