from .knn import KNearestNeighbor, cross_validate_k, l1_distances, predict_labels
from .linear import (LinearClassifier, LinearSVM, Softmax, softmax_loss_naive,
                     softmax_loss_vectorized, svm_loss_naive, svm_loss_vectorized)
from .nets import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet

__all__ = ["KNearestNeighbor", "cross_validate_k", "l1_distances", "predict_labels", "LinearClassifier",
           "LinearSVM", "Softmax", "softmax_loss_naive", "softmax_loss_vectorized", "svm_loss_naive",
           "svm_loss_vectorized", "FullyConnectedNet", "ThreeLayerConvNet", "TwoLayerNet"]
