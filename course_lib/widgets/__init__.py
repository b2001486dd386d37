"""ipywidgets panels for the notebooks, each a thin shell around plain functions.

The plain functions (knn_report, train_linear, train_net, sizes.conv_arithmetic, the netvis
functions, features.hog_features) do the work and are what the tests call: graded notebooks run
headless, where no widget callback ever fires. A panel only reads its controls, calls the function and draws the result into
an Output area.
"""
from .conv import conv_figure, conv_panel
from .features import hog_figure, hog_panel
from .knn import KnnExplorer, knn_panel, knn_report, neighbours_figure
from .linear import linear_panel, train_linear
from .nets import net_panel, train_net
from .netvis import class_visualization_panel

__all__ = ["KnnExplorer", "class_visualization_panel", "conv_figure", "conv_panel", "hog_figure", "hog_panel",
           "knn_panel", "knn_report", "linear_panel", "neighbours_figure", "net_panel",
           "train_linear", "train_net"]
