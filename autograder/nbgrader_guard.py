"""What nbgrader's own autograde runs in a course that course-grade manages: a refusal. nbgrader's
autograde (and the formgrader's Autograde button, which calls it) would execute student code on
this machine, outside any jail; course-grade's managed block in nbgrader_config.py puts this
preprocessor first in both of its chains, so it stops before a cell runs and says what to use."""
from nbconvert.preprocessors import Preprocessor

MESSAGE = ("nbgrader's autograde is switched off in this course: it would run student code on this "
           "machine, outside any jail. Grade with course-grade instead: "
           "course-grade autograde <assignment> <submissions folder> --course <this course directory>")


class AutogradeRefused(RuntimeError):
    pass


class RefuseAutograde(Preprocessor):
    def __call__(self, nb, resources):  # whether or not nbconvert counts it as enabled
        raise AutogradeRefused(MESSAGE)

    preprocess = __call__
