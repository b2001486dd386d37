"""First-order update rules: next_w, config = rule(w, dw, config).

`config` holds the hyperparameters and the rule's state (velocity, moving averages); pass the
returned dict back in at the next step. Missing entries get the course's defaults.
"""
import numpy as np

DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "nesterov_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}


def _config(rule, config):
    config = {} if config is None else config
    for key, value in DEFAULTS[rule].items():
        config.setdefault(key, value)
    return config


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: w - learning_rate * dw.

    config:
    - learning_rate: scalar (default 1e-2)
    """
    config = _config("sgd", config)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config=None):
    """Stochastic gradient descent with momentum: v = momentum * v - learning_rate * dw, then
    w + v.

    config:
    - learning_rate: scalar (default 1e-2)
    - momentum: scalar in [0, 1), 0 is plain SGD (default 0.9)
    - velocity: state, the shape of w (zeros at the first step)
    """
    config = _config("sgd_momentum", config)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def nesterov_momentum(w, dw, config=None):
    """Nesterov momentum in the 'look-ahead' form that needs only the gradient at w:
    v_new = mu * v - learning_rate * dw, then w - mu * v + (1 + mu) * v_new.

    config:
    - learning_rate: scalar (default 1e-2)
    - momentum: mu, scalar in [0, 1) (default 0.9)
    - velocity: state, the shape of w (zeros at the first step)
    """
    config = _config("nesterov_momentum", config)
    mu = config["momentum"]
    v = config.get("velocity", np.zeros_like(w))
    v_new = mu * v - config["learning_rate"] * dw
    config["velocity"] = v_new
    return w - mu * v + (1 + mu) * v_new, config


def rmsprop(w, dw, config=None):
    """RMSProp: the step divided by the root of a moving average of squared gradients,
    cache = decay_rate * cache + (1 - decay_rate) * dw**2, then
    w - learning_rate * dw / (sqrt(cache) + epsilon).

    config:
    - learning_rate: scalar (default 1e-2)
    - decay_rate: scalar in [0, 1), how slowly the average forgets (default 0.99)
    - epsilon: small scalar that avoids dividing by zero (default 1e-8)
    - cache: state, the shape of w (zeros at the first step)
    """
    config = _config("rmsprop", config)
    cache = config.get("cache", np.zeros_like(w))
    cache = config["decay_rate"] * cache + (1 - config["decay_rate"]) * dw * dw
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def adam(w, dw, config=None):
    """Adam: momentum plus RMSProp, with bias correction of both moving averages,
    m = beta1 * m + (1 - beta1) * dw, v = beta2 * v + (1 - beta2) * dw**2, t = t + 1, then
    w - learning_rate * m_hat / (sqrt(v_hat) + epsilon), m_hat = m / (1 - beta1**t) and
    v_hat = v / (1 - beta2**t).

    config:
    - learning_rate: scalar (default 1e-3)
    - beta1: decay of the moving average of the gradient (default 0.9)
    - beta2: decay of the moving average of its square (default 0.999)
    - epsilon: small scalar that avoids dividing by zero (default 1e-8)
    - m, v: state, the shape of w (zeros at the first step)
    - t: state, the step count (0 before the first step, so the first step uses t = 1)
    """
    config = _config("adam", config)
    b1, b2 = config["beta1"], config["beta2"]
    t = config.get("t", 0) + 1
    m = b1 * config.get("m", np.zeros_like(w)) + (1 - b1) * dw
    v = b2 * config.get("v", np.zeros_like(w)) + (1 - b2) * dw * dw
    config.update(t=t, m=m, v=v)
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


RULES = {"sgd": sgd, "sgd_momentum": sgd_momentum, "nesterov_momentum": nesterov_momentum,
         "rmsprop": rmsprop, "adam": adam}


def get_rule(name):
    """The update rule called `name` (one of RULES), or name itself if it is a function."""
    if callable(name):
        return name
    if name not in RULES:
        raise ValueError(f"unknown update rule {name!r}; choose one of {', '.join(RULES)}")
    return RULES[name]
