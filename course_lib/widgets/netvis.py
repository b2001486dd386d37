"""The class-visualisation panel (assignment 2.4): pick a class and the regularisers, and watch the
image the trained network finds most typical of that class."""
from .. import vis
from ..netvis import class_visualization
from .panel import action_button, draw, layout


def class_visualization_panel(model, image_shape, class_names, clamp=None):
    import ipywidgets as w
    controls = {
        "target": w.Dropdown(options=[(name, i) for i, name in enumerate(class_names)], value=0,
                             description="class"),
        "l2_reg": w.FloatLogSlider(value=1e-3, base=10, min=-5, max=0, description="L2 reg"),
        "blur_sigma": w.FloatSlider(value=0.5, min=0.0, max=2.0, step=0.1, description="blur"),
        "num_iterations": w.IntSlider(value=100, min=10, max=500, step=10, description="steps"),
    }
    status, out = w.HTML(), w.Output()

    def run():
        c = {name: control.value for name, control in controls.items()}
        image = class_visualization(model, c["target"], image_shape, c["num_iterations"],
                                    l2_reg=c["l2_reg"], blur_sigma=c["blur_sigma"],
                                    blur_every=10 if c["blur_sigma"] else 0, clamp=clamp)
        scores = model.loss(image[None])[0]
        status.value = (f"score of <b>{class_names[c['target']]}</b>: {scores[c['target']]:.2f}; "
                        f"the network's choice: <b>{class_names[scores.argmax()]}</b>")
        draw(out, vis.show_images([image], [class_names[c["target"]]], size=3))
        panel.image = image

    button = action_button("Visualise", run, status)
    c = list(controls.values())
    panel = layout([c[:2], [*c[2:], button]], status, out, controls={**controls, "run": button}, image=None)
    return panel
