"""The conv arithmetic explorer (assignment 2.3): input size, filter size, stride, padding and
number of filters in; output size, parameters and memory out, with the windows drawn along one row
of the padded input, and an impossible stride explained."""
from ..sizes import conv_arithmetic
from .panel import figure_html, layout, shown_errors_in


def _describe(r):
    head = (f"<b>{r['size']}x{r['size']}x{r['channels']}</b> input, {r['filters']} filters of "
            f"{r['filter_size']}x{r['filter_size']}, stride {r['stride']}, padding {r['pad']}<br>"
            f"output size = {r['formula']}")
    params = (f"parameters: {r['filter_size']}*{r['filter_size']}*{r['channels']}*{r['filters']} "
              f"weights + {r['filters']} biases = <b>{r['params']:,}</b>")
    if not r["valid"]:
        return f"{head}<br><b style='color:#b00'>impossible</b>: {r['reason']}<br>{params}"
    return (f"{head} = <b>{r['output']}</b>, so the output is <b>{r['output']}x{r['output']}x"
            f"{r['filters']}</b><br>{params}<br>activations: {r['activations']:,} values = "
            f"{r['memory']:,} bytes per image in float32")


def conv_figure(r):
    """One row of the padded input (padding hatched), and each filter window along it as a bar;
    for an invalid geometry the columns no window can reach are drawn red."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    width = r["size"] + 2 * r["pad"]
    starts = r["window_starts"]
    fig = Figure(figsize=(max(4.0, 0.35 * width + 1), 1.0 + 0.28 * max(len(starts), 1)))
    ax = fig.add_subplot(1, 1, 1)
    for col in range(width):
        padded = col < r["pad"] or col >= r["pad"] + r["size"]
        unreachable = not r["valid"] and starts and col >= starts[-1] + r["filter_size"]
        ax.add_patch(Rectangle((col, 0), 1, 1, fill=True, edgecolor="black",
                               facecolor="#f4a0a0" if unreachable else "white",
                               hatch="//" if padded else None))
    for i, start in enumerate(starts):
        ax.add_patch(Rectangle((start + 0.1, -1.0 - 0.8 * i), r["filter_size"] - 0.2, 0.6,
                               color=f"C{i % 10}", alpha=0.8))
    ax.set_xlim(-0.5, width + 0.5)
    ax.set_ylim(-1.2 - 0.8 * max(len(starts), 1), 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
    title = (f"{len(starts)} windows: output {r['output']}" if r["valid"] else
             f"{len(starts)} windows fit, {r['left_over'] or 0} column(s) left over: invalid"
             if starts else "the filter does not fit")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def conv_panel(size=7, filter_size=3, stride=1, pad=0, filters=4, channels=3):
    """Sliders for W, F, S, P and K (and the input depth); recomputes on every change."""
    import ipywidgets as w
    controls = {
        "size": w.IntSlider(value=size, min=1, max=64, description="input W"),
        "filter_size": w.IntSlider(value=filter_size, min=1, max=11, description="filter F"),
        "stride": w.IntSlider(value=stride, min=1, max=8, description="stride S"),
        "pad": w.IntSlider(value=pad, min=0, max=5, description="padding P"),
        "filters": w.IntSlider(value=filters, min=1, max=256, description="filters K"),
        "channels": w.IntSlider(value=channels, min=1, max=64, description="depth C"),
    }
    status = w.HTML()

    @shown_errors_in(status)
    def update(_=None):
        result = conv_arithmetic(**{name: c.value for name, c in controls.items()})
        figure = conv_figure(result)
        # one widget for the text and the picture, so that both change at once
        status.value = f"{_describe(result)}<br>{figure_html(figure, figure.axes[0].get_title())}"
        panel.result = result

    for control in controls.values():
        control.observe(update, names="value")
    c = list(controls.values())
    panel = layout([c[:3], c[3:]], status, controls=controls, result=None)
    update()
    return panel
