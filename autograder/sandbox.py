"""What a submission's jails are given, as autograder.jail command lines: the Python installation
read-only (with any installed copy of course_lib or the grader shown empty), a course library
(the full one for the notebook, a grading edition for a decisive test) at LIB, the grader's harness
at GRADER, the limits, the uid and cgroup of the submission, and a clean environment.
"""
import csv
import functools
import glob
import importlib.util
import os
import site
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .edition import jail_safe
from .model import Limits

HOME = "/home/student"
LIB = "/opt/course/lib"
GRADER = "/opt/course/grader"
NUMBA_CACHE = f"{HOME}/.numba-cache"
MPLCONFIG = f"{HOME}/.config/matplotlib"
HARNESS_FILES = ("harness.py", "handoff.py")


def _inside(path, folders):
    """Whether path is strictly below one of the folders."""
    return any(path.startswith(folder.rstrip("/") + "/") for folder in folders)


def _minimal(paths):
    """The paths, without those inside another one."""
    paths = sorted({os.path.realpath(p) for p in paths if p and os.path.exists(p)})
    return [p for p in paths if not _inside(p, paths)]


def _python_folders(prefix):
    """What a Python installed in `prefix` needs of it: its standard library (compiled modules
    included) and its package folders (selected later, by course_packages)."""
    names = {"base": prefix, "platbase": prefix, "installed_base": prefix, "installed_platbase": prefix}
    found = [sysconfig.get_paths(vars=names)[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    return found + [p for pattern in PACKAGE_FOLDERS for p in glob.glob(os.path.join(prefix, pattern))]


def runtime_paths():
    """Where Python and its packages live (a virtual environment and its base interpreter too):
    of each prefix, only the interpreter, the standard library, the package folders and a
    virtual environment's pyvenv.cfg; not its programs (bin/ holds every installed tool), nor
    /usr whole for a system Python. The libraries it loads come from system_libraries."""
    executables = {sys.executable, getattr(sys, "_base_executable", sys.executable)}
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths = list(site.getsitepackages())
    for prefix in prefixes:
        paths += [*_python_folders(prefix), os.path.join(prefix, "pyvenv.cfg")]
    paths = _minimal(paths)
    # the interpreters as they are named (/usr/bin/python3, a venv's bin/python), links and all
    return paths + sorted(exe for exe in executables if not _inside(os.path.realpath(exe), paths))


def shown_host_paths():
    """Every host path a jail shows, read-only, but the system's libraries: a few files of /etc and
    Python's installation (autograder.jail)."""
    from .jail import ETC
    return [*(f"/etc/{name}" for name in ETC), *runtime_paths()]


@functools.lru_cache(maxsize=8)
def system_libraries(paths):
    """The files outside `paths` that Python and the compiled modules of the course's packages
    under them load (the loader, libc, libstdc++, libgomp...): all a jail shows of the system's
    folders. Nothing else of /usr is there: no other program, no other Python and its packages."""
    from .elf import libraries
    roots = [os.path.realpath(exe) for exe in (sys.executable, getattr(sys, "_base_executable", None)) if exe]
    base = {"platbase": sys.base_exec_prefix, "installed_platbase": sys.base_exec_prefix}  # a venv's too
    places = [os.path.join(sysconfig.get_path("platstdlib", vars=base), "lib-dynload")]
    places += [os.path.join(folder, name) for folder, names in course_packages(paths).items()
               for name in names if name != "__pycache__"]
    for place in places:
        if os.path.isfile(place):
            roots.append(place)
        for folder, _, files in os.walk(place):
            roots += [os.path.join(folder, f) for f in files if f.endswith(".so") or ".so." in f]
    found, _ = libraries(roots)
    return tuple(p for p in found if not _inside(os.path.realpath(p), paths))


# where packages are installed under a prefix (a virtual environment, Python's own, /usr, the
# environments nested in one: pyenv-virtualenv's and conda's envs/), and where pip and people put
# source checkouts (pip install -e git+...: <venv>/src/<name>)
PACKAGE_FOLDERS = tuple(f"{env}{folder}" for env in ("", "envs/*/")
                        for folder in ("lib/python3*/site-packages", "lib/python3*/dist-packages",
                                       "lib/python3/dist-packages", "local/lib/python3*/site-packages",
                                       "local/lib/python3*/dist-packages", "lib64/python3*/site-packages"))
CHECKOUT_FOLDERS = ("src/*", "local/src/*", "share/*")
PACKAGES = ("course_lib", "autograder")
# what marks a folder holding a package as the course's repository: hidden whole (its solutions/
# and .git hold every answer), not only its package folders
PROJECT_MARKS = ("solutions", ".git", "pyproject.toml")
# what pip writes beside an install of the course: an editable install's finder and .pth name the
# checkout's path, as does the dist-info's direct_url.json (a path to aim a link at, from a jail)
INSTALL_RECORDS = ("__editable__*course_lib*", "course_lib-*.dist-info", "course_lib-*.egg-info",
                   "course_lib.egg-link", "course-lib.egg-link")


# The jail's Python imports only what code in a jail imports: course_lib at run time (a test keeps
# this list in step with its imports) and the notebook's kernel, with their requirements. Not
# course-lib's own requirements: those serve the instructor's tools too (JupyterLab, nbgrader,
# scikit-learn), and scikit-learn's MLP computes a network's backward pass. Everything else
# installed beside them is not there, so nothing installed later can be reached either: PyTorch,
# there for the benchmarks, gave every backward pass for free through its autograd, SymPy
# differentiates (student-style attacks).
JAIL_DISTRIBUTIONS = ("numpy", "numba", "scipy", "threadpoolctl", "matplotlib", "pillow", "tqdm",
                      "ipywidgets", "ipykernel")


@functools.lru_cache(maxsize=1)
def jail_distributions():
    """The canonical names of the distributions a jail shows: JAIL_DISTRIBUTIONS, their
    requirements (no extras) and theirs, from the installed metadata."""
    import importlib.metadata as metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    needed, todo = set(), list(JAIL_DISTRIBUTIONS)
    while todo:
        requirement = Requirement(todo.pop())
        name = canonicalize_name(requirement.name)
        if name in needed or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        needed.add(name)
        try:
            todo += metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            pass  # not installed here: nothing of it to show
    return frozenset(needed)


@functools.lru_cache(maxsize=8)
def course_packages(paths):
    """{package folder under the shown paths: the entries in it that belong to a distribution
    a jail needs (by the distributions' RECORD files)}, for the jail's --select: other packages,
    their metadata, .pth files and whatever no installer recorded are not there at all (shown
    empty, a package folder would still import, as an empty namespace package, and break a
    dependency's `try: import orjson`). Of the folder's own __pycache__, only the compiled files
    that those distributions recorded ("__pycache__/six.cpython-311.pyc"): Python loads any .pyc
    whose source is gone when asked by hand (SourcelessFileLoader), and an editable install's
    compiled finder names the checkout's path."""
    import importlib.metadata as metadata

    from packaging.utils import canonicalize_name
    needed, selected = jail_distributions(), {}
    folders = {os.path.realpath(f) for path in paths for pattern in PACKAGE_FOLDERS
               for f in glob.glob(os.path.join(path, pattern))}
    folders |= {os.path.realpath(p) for p in site.getsitepackages() if _inside(os.path.realpath(p), paths)}
    for folder in sorted(f for f in folders if os.path.isdir(f)):
        owned = set()  # entries (and __pycache__/files) that a needed distribution recorded
        for dist in metadata.distributions(path=[folder]):
            if canonicalize_name(dist.metadata["Name"] or "") not in needed:
                continue
            record = dist.read_text("RECORD")  # read as text: PackagePath objects cost a second
            files = ([row[0] for row in csv.reader(record.splitlines()) if row] if record is not None
                     else [str(f) for f in dist.files or []])
            for file in files:
                parts = file.split("/")
                owned.add("/".join(parts[:2]) if parts[0] == "__pycache__" else parts[0])
        cache = os.path.join(folder, "__pycache__")
        entries = [e for e in os.listdir(folder) if e != "__pycache__"]
        entries += [f"__pycache__/{f}" for f in (os.listdir(cache) if os.path.isdir(cache) else [])]
        selected[folder] = tuple(entry for entry in sorted(entries) if "," not in entry and entry in owned)
    return selected


def installed_copies(paths):
    """What the jail must show empty, of what the shown paths hold: every course_lib and
    autograder folder (or egg), be it the one this process imports, another install on its path,
    or one in the package folders under a shown path (a virtual environment's copy while the
    grader runs from a checkout, the system's, a nested environment's); and, where such a folder
    is in the course's repository (solutions/, .git), that repository whole. So only the library
    at LIB can be imported, and no answer read, whatever a submission adds to sys.path."""
    places = [*sys.path, *site.getsitepackages(), str(Path(__file__).resolve().parents[1])]
    for path in paths:
        places += [found for pattern in PACKAGE_FOLDERS + CHECKOUT_FOLDERS
                   for found in glob.glob(os.path.join(path, pattern))]
        places.append(path)
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        places += [os.path.dirname(p) for p in ((spec.submodule_search_locations or []) if spec else [])]
    found = []
    for place in dict.fromkeys(os.path.realpath(p) for p in places if p):
        held = [f for name in PACKAGES for f in [os.path.join(place, name), *glob.glob(os.path.join(place, f"{name}*.egg"))]
                if os.path.exists(f)]
        if held and any(os.path.exists(os.path.join(place, mark)) for mark in PROJECT_MARKS):
            held = [place]  # a checkout: all of it
        held += [f for pattern in INSTALL_RECORDS for f in glob.glob(os.path.join(place, pattern))]
        found += [f for f in held if _inside(f, paths)]
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Sandbox:
    """The jails of one submission: the same uid, cgroup and limits for all of them."""
    scratch: Path  # a host folder of this submission for the jails' mount points
    limits: Limits
    uid: int | None  # when the grader runs as root
    cgroup_folders: tuple = ()

    def command(self, library, copies=(), harness=False):
        """autograder.jail's command line up to (not including) the `--` before the command."""
        if not jail_safe(library):  # the walkthroughs hold the answers: see autograder.edition
            raise ValueError(f"{library} holds the learners' guide data: a jail gets a library made by "
                             f"autograder.edition (build or notebook_library), never the installed one")
        paths = runtime_paths()
        stage = tempfile.mkdtemp(dir=self.scratch, prefix="root-")
        limits = self.limits
        cmd = [sys.executable, "-m", "autograder.jail", "--stage", stage, "--workdir", HOME,
               "--disk-mb", str(limits.disk_mb), "--cpu", str(limits.cpu),
               "--memory-mb", str(limits.memory_mb), "--processes", str(limits.processes),
               "--file-mb", str(limits.file_mb)]
        cmd += [f"--ro={p}" for p in paths]
        cmd += [f"--ro={p}" for p in system_libraries(tuple(paths))]
        cmd += [f"--hide={p}" for p in installed_copies([*paths, *shown_host_paths()])]
        # the package folders show what a jail imports; the same key as system_libraries' (cached):
        # the files of /etc that a jail shows hold no package folder
        selected = course_packages(tuple(paths))
        cmd += [f"--select={folder}={','.join(names)}" for folder, names in selected.items()]
        # copied, not bound: a bind shows its host path in the jail's /proc/self/mountinfo
        cmd += [f"--copy={library}={LIB}/course_lib"]
        if harness:
            here = Path(__file__).resolve().parent
            cmd += [f"--copy={here / name}={GRADER}/{name}" for name in HARNESS_FILES]
        cmd += [f"--copy={host}={inner}" for host, inner in copies]
        cmd += ["--uid", str(self.uid)] if self.uid is not None else []
        cmd += [f"--cgroup={folder}" for folder in self.cgroup_folders]
        cmd += [f"--setenv={k}={v}" for k, v in self.environment(harness).items()]
        return cmd

    def environment(self, harness=False):
        threads = str(self.limits.threads)
        return {"PYTHONPATH": LIB + (f":{GRADER}" if harness else ""), "PYTHONNOUSERSITE": "1",
                "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
                "MPLCONFIGDIR": MPLCONFIG, "IPYTHONDIR": f"{HOME}/.ipython",
                "JUPYTER_PLATFORM_DIRS": "1", "JUPYTER_RUNTIME_DIR": f"{HOME}/.local/share/jupyter/runtime",
                "NUMBA_CACHE_DIR": NUMBA_CACHE, "OMP_NUM_THREADS": threads,
                "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "NUMBA_NUM_THREADS": threads}
