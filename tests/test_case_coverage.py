"""Every branch of a graded function is judged on every draw. A case whose function has branches
(batch norm on or off, one group or many, the conv and pool geometries, one orientation bin or
several, colour or grey) hands the grader one configuration per branch, so an answer right on a
single branch (the others left, in the notebook, to a fallback on the library) fails whatever the
seed, instead of passing on the draws that happen to pick its branch."""
import numpy as np

from autograder.cases import CASES, CONV_GEOMETRIES, POOL_GEOMETRIES, _gn_forward_reference

SEEDS = range(40)


def configurations(name, gid, seed):
    return CASES[name][gid].configurations(np.random.default_rng(seed))


def test_each_draw_covers_every_branch():
    for seed in SEEDS:
        assert sorted(c["batchnorm"] for c in configurations("04_fc_nets", "test-fc-init", seed)) == [0, 1]
        hooks = {(c["batchnorm"], c["keep"] < 1) for c in configurations("04_fc_nets", "test-fc-hooks", seed)}
        assert hooks == {(1, False), (0, True), (1, True)}, seed
        for gid in ("test-gn-forward", "test-gn-backward"):
            kinds = {"one group" if c["G"] == 1 else "a channel each" if c["G"] == c["x"].shape[1] else "between"
                     for c in configurations("05_batchnorm_dropout", gid, seed)}
            assert kinds == {"one group", "a channel each", "between"}, (gid, seed)
        for gid in ("test-conv-forward", "test-conv-backward"):
            geometries = {(c["stride"], c["pad"], c["w"].shape[2]) for c in configurations("06_convnets", gid, seed)}
            assert geometries == set(CONV_GEOMETRIES), (gid, seed)
        for gid in ("test-pool-forward", "test-pool-backward"):
            geometries = {(c["pool_height"], c["pool_width"], c["stride"])
                          for c in configurations("06_convnets", gid, seed)}
            assert geometries == set(POOL_GEOMETRIES), (gid, seed)
        assert {c["bins"] > 1 for c in configurations("08_image_features", "test-hog", seed)} == {False, True}
        colour = configurations("08_image_features", "test-colour-histogram", seed)
        assert sorted(c["images"].shape[1] for c in colour) == [1, 3] and all(c["bins"] > 1 for c in colour)


def test_an_answer_right_on_one_branch_fails_on_every_draw():
    """Group norm that normalises every image as one group (layer norm): right when G = 1, which
    one draw in four picked before; now every draw holds a G > 1 that it gets wrong."""
    case = CASES["05_batchnorm_dropout"]["test-gn-forward"]
    for seed in SEEDS:
        problems = [p for c in configurations("05_batchnorm_dropout", "test-gn-forward", seed)
                    for p in case.check(c, (_gn_forward_reference(c["x"], c["gamma"], c["beta"], 1, c["eps"]),))]
        assert problems, seed


def test_cases_without_branches_keep_one_configuration():
    case = CASES["04_fc_nets"]["test-momentum"]
    assert case.cover is None and case.scale is None and len(case.configurations(np.random.default_rng(0))) == 1
    case = CASES["04_fc_nets"]["test-affine"]  # one drawn, and the large one
    assert case.cover is None and len(case.configurations(np.random.default_rng(0))) == 2
