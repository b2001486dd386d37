"""What every panel is made of: rows of controls above a status line and output areas, a button
that is disabled while its action runs, and an output area redrawn with a new figure."""
from IPython.display import display


def layout(rows, status, *areas, controls, **state):
    """A VBox of the control rows (each a list of widgets), then status and the areas. The named
    controls, the status and the panel's state (result, image...) are attributes of the box, which
    the notebooks and the tests read."""
    import ipywidgets as w
    panel = w.VBox([w.HBox(list(row)) for row in rows] + [status, *areas])
    panel.controls, panel.status = controls, status
    for name, value in state.items():
        setattr(panel, name, value)
    return panel


def action_button(description, action):
    """A primary button that calls action() when clicked, disabled until it returns (or raises)."""
    import ipywidgets as w
    button = w.Button(description=description, button_style="primary")

    def clicked(_):
        button.disabled = True
        try:
            action()
        finally:
            button.disabled = False

    button.on_click(clicked)
    return button


def draw(area, figure):
    """Replace what the output area shows by figure (without flicker: cleared when it arrives)."""
    area.clear_output(wait=True)
    with area:
        display(figure)
