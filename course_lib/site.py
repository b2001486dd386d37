"""`course-lib site`: the whole course as a static HTML site, built with Sphinx and MyST-NB.

Two editions, from the same notebooks:

* the student site (the default) renders the releases in `assignments/` as they are, stubs and
  all, with the figures of the cells that are neither answers nor tests grafted in from a run of
  the instructor's notebook: a learner sees what each plot should look like, never an answer's
  code, a hidden test, a mark scheme or a test cell's output;
* the instructor site (`--instructor`) renders the executed solution notebooks, outputs included.

The solution notebooks are executed once (about a minute for all eight on the digits) and kept in
a cache folder, keyed by the notebook and the library's sources. Sphinx works in a temporary copy:
nothing is written outside `--out` and the cache. Maths is typeset by a local copy of MathJax
(sphinx-mathjax-offline), so the site needs no network, to build or to read. Widget panels cannot
run in a static page: their outputs are replaced by the panel's screenshot from docs/panels/.

Needs the `site` extra: pip install -e ".[site]".
"""
import copy
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CACHE_VERSION = "1"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")
AFTER = {"07_network_visualization": ("06_convnets",)}  # reads what those save, when run with them

# The reading for each notebook comes from solutions/<name>/guide.toml, key `reading` (a list of
# {title, url}); this built-in mapping to the CS231n notes is only the fallback for a notebook
# whose guide.toml is missing or has no `reading`.
CS231N = "https://cs231n.github.io"
FALLBACK_READING = {
    "01_knn": [("Image classification: data-driven approach, kNN, validation",
                f"{CS231N}/classification/")],
    "02_svm": [("Linear classification: SVM and softmax", f"{CS231N}/linear-classify/"),
               ("Optimization: stochastic gradient descent", f"{CS231N}/optimization-1/")],
    "03_softmax": [("Linear classification: SVM and softmax", f"{CS231N}/linear-classify/"),
                   ("Optimization: stochastic gradient descent", f"{CS231N}/optimization-1/")],
    "04_fc_nets": [("Backpropagation, intuitions", f"{CS231N}/optimization-2/"),
                   ("Neural networks 1: setting up the architecture", f"{CS231N}/neural-networks-1/"),
                   ("Neural networks 3: learning and evaluation", f"{CS231N}/neural-networks-3/")],
    "05_batchnorm_dropout": [("Neural networks 2: data, batch norm, regularisation and dropout",
                              f"{CS231N}/neural-networks-2/")],
    "06_convnets": [("Convolutional networks", f"{CS231N}/convolutional-networks/")],
    "07_network_visualization": [("Understanding and visualising ConvNets",
                                  f"{CS231N}/understanding-cnn/")],
    "08_image_features": [("Linear classification", f"{CS231N}/linear-classify/"),
                          ("Neural networks 1: setting up the architecture",
                           f"{CS231N}/neural-networks-1/")],
}


def repository_root(root=None):
    """The repository holding solutions/ and assignments/: `root`, else the one this package
    lives in, else the current folder."""
    for candidate in ([Path(root)] if root else [Path(__file__).resolve().parents[1], Path.cwd()]):
        if (candidate / "solutions").is_dir() and (candidate / "assignments").is_dir():
            return candidate.resolve()
    raise SystemExit(f"no solutions/ and assignments/ in {root or 'the package or current folder'}: the site is "
                     "built from a clone of the course repository (it runs the solutions for the figures); run it "
                     "there or give --root. Without a clone, `course-lib notebooks FOLDER` gives you the notebooks")


def default_cache():
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "course-lib" / "site"


def notebook_names(root):
    return sorted(p.name for p in (root / "solutions").iterdir()
                  if (p / f"{p.name}.ipynb").is_file())


def reading(root, name):
    """[(title, url), ...] from solutions/<name>/guide.toml's `reading`, else the fallback."""
    guide = root / "solutions" / name / "guide.toml"
    if guide.is_file():
        entries = tomllib.loads(guide.read_text()).get("reading") or []
        links = [(str(e["title"]), str(e["url"])) for e in entries
                 if isinstance(e, dict) and e.get("title") and e.get("url")]
        if links:
            return links
    return FALLBACK_READING.get(name, [])


def _source(cell):
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def _library_digest(root):
    h = hashlib.sha256()
    lib = root / "course_lib"
    for path in sorted(lib.rglob("*")):
        if (path.is_file() and path.suffix in (".py", ".npz") and "__pycache__" not in path.parts
                and path.name not in ("site.py", "__main__.py")):  # what the notebooks run
            h.update(str(path.relative_to(lib)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def executed_solutions(root, names, cache, log=print, jobs=2):
    """{name: executed solution notebook (a dict)}, from the cache when the notebook and the
    library are unchanged; otherwise run with nbclient in a temporary folder, `jobs` at a time."""
    from nbclient import NotebookClient
    import nbformat

    cache = Path(cache)
    (cache / "executed").mkdir(parents=True, exist_ok=True)
    library = _library_digest(root)
    results, todo = {}, []
    for name in names:
        raw = (root / "solutions" / name / f"{name}.ipynb").read_bytes()
        key = hashlib.sha256(f"{CACHE_VERSION}\0{library}\0".encode() + raw).hexdigest()[:32]
        hit = cache / "executed" / f"{name}-{key}.ipynb"
        if hit.is_file():
            results[name] = json.loads(hit.read_text())
        else:
            todo.append((name, hit))
    if not todo:
        return results
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join([str(root)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
               NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR") or str(cache / "numba"),
               IPYTHONDIR=str(cache / "ipython"),
               MPLCONFIGDIR=str(cache / "matplotlib"), PYTHONPYCACHEPREFIX=str(cache / "pycache"),
               MPLBACKEND="module://matplotlib_inline.backend_inline", COURSE_LIB_BACKEND="numba")
    jobs = max(1, min(jobs or 2, len(todo)))
    with tempfile.TemporaryDirectory(prefix="course-site-run-") as tmp:
        env["JUPYTER_RUNTIME_DIR"] = str(Path(tmp) / "runtime")

        def run(name, hit):
            folder = Path(tmp) / name
            shutil.copytree(root / "solutions" / name, folder)
            nb = nbformat.read(folder / f"{name}.ipynb", as_version=4)
            started = time.monotonic()
            # killed once the last cell is done: a graceful shutdown races ipykernel 6's closing of
            # its iopub socket and sometimes logs an "Uncaught exception in ZMQStream callback"
            # (ipython/ipykernel#1518), which the build would pass on as its own error
            NotebookClient(nb, timeout=300, kernel_name="python3", shutdown_kernel="immediate",
                           extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no TCP notice
                           resources={"metadata": {"path": str(folder)}}).execute(env=env)
            errors = [o for c in nb.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
            if errors:
                raise RuntimeError(f"{name} raised {errors[0]['ename']}: {errors[0]['evalue']}")
            log(f"  executed {name} in {time.monotonic() - started:.1f} s")
            for old in (cache / "executed").glob(f"{name}-*.ipynb"):
                old.unlink()
            text = nbformat.writes(nb)
            tmp_hit = hit.with_suffix(".tmp")
            tmp_hit.write_text(text)
            os.replace(tmp_hit, hit)
            results[name] = json.loads(text)

        # `jobs` kernels at once (two: the notebooks are short, a kernel's start and its Python
        # leave a core idle); a notebook that reads what an earlier one saved (07 loads 06's
        # ConvNet from ../06_convnets/) runs after it, in the same job
        chains, placed = [], {}
        for name, hit in todo:
            after = next((n for n in AFTER.get(name, ()) if n in placed), None)
            if after is not None:
                chains[placed[after]].append((name, hit))
                placed[name] = placed[after]
            else:
                placed[name] = len(chains)
                chains.append([(name, hit)])
        with ThreadPoolExecutor(jobs) as pool:
            for future in [pool.submit(lambda chain=chain: [run(*job) for job in chain])
                           for chain in sorted(chains, key=len, reverse=True)]:
                future.result()
    return results


def _markdown(text):
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _without_widgets(cell):
    """The cell's outputs without widget views; True if it had one."""
    had = False
    kept = []
    for out in cell.get("outputs", []):
        if WIDGET_MIME in out.get("data", {}):
            had = True
            continue
        kept.append(out)
    cell["outputs"] = kept
    return had


def _figures_only(outputs):
    """The pictures among a cell's outputs, as display_data without text or execution counts."""
    figures = []
    for out in outputs:
        data = out.get("data", {})
        pictures = {m: data[m] for m in IMAGE_MIMES if m in data}
        if pictures and out["output_type"] in ("display_data", "execute_result"):
            figures.append({"output_type": "display_data", "data": pictures,
                            "metadata": {m: v for m, v in out.get("metadata", {}).items()
                                         if m in IMAGE_MIMES}})
    return figures


def student_notebook(release, executed):
    """The release with the figures of its plain cells (neither an answer nor a test, and the same
    source as in the instructor's notebook) taken from the executed solution; nothing else."""
    nb = copy.deepcopy(release)
    solved = executed["cells"]
    if len(solved) != len(nb["cells"]):
        raise RuntimeError("the release and the solution have different cells: run course-grade release")
    for cell, twin in zip(nb["cells"], solved):
        if cell["cell_type"] != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        meta = _nbgrader(cell)
        if (meta.get("solution") or meta.get("grade") or _nbgrader(twin).get("solution")
                or _nbgrader(twin).get("grade") or _source(cell) != _source(twin)):
            continue
        cell["outputs"] = _figures_only(twin.get("outputs", []))
    return nb


def page_notebook(nb, name, links, panels, instructor):
    """The notebook as its page shows it: the reading after the title, widget panels replaced by
    their screenshot, no widget state (its JavaScript would come from a CDN)."""
    nb = copy.deepcopy(nb)
    nb["metadata"].pop("widgets", None)
    nb["metadata"].setdefault("kernelspec", {"display_name": "Python 3", "language": "python",
                                             "name": "python3"})
    cells = []
    for cell in nb["cells"]:
        cells.append(cell)
        if cell["cell_type"] == "code" and (_without_widgets(cell)
                                            or re.search(r"widgets\.\w+_panel\(", _source(cell))):
            shot = panels.get(name)
            text = ("*In JupyterLab this cell opens an interactive panel; it needs a running kernel, "
                    "so this page cannot show it live.*")
            if shot:
                text += f" As the browser tests leave it:\n\n![The {name} panel]({shot})"
            cells.append(_markdown(text))
    reading_md = "```{admonition} Reading\n:class: tip reading\n\n" + "\n".join(
        f"* [{title}]({url})" for title, url in links) + "\n```\n"
    if instructor:
        note = ("This is the **instructor's** notebook, executed: solutions, hidden tests and mark "
                "schemes included.")
    else:
        note = ("The code cells you write are left as they are released (they raise "
                "`NotImplementedError` until you do). The figures come from a run of the "
                "instructor's notebook, for cells that are neither answers nor tests: they show "
                "what to expect. Open the notebook in JupyterLab to work on it.")
    first = 1 if cells and cells[0]["cell_type"] == "markdown" else 0
    cells[first:first] = [_markdown(reading_md + "\n" + note)]
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
        for i, cell in enumerate(cells):
            cell.setdefault("id", f"site-{i}")
    nb["cells"] = cells
    return nb


def _title(nb, fallback):
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"^#\s+(.+)$", _source(cell), re.M)
            if m:
                return m.group(1).strip()
    return fallback


def _start_commands(root):
    """The README's first bash block (install and run), for the landing page."""
    readme = root / "README.md"
    if readme.is_file():
        m = re.search(r"```bash\n(.*?)```", readme.read_text(), re.S)
        if m:
            return m.group(1).rstrip("\n")
    return 'pip install . && python -m course_lib\npip install -e ".[test]" && python -m pytest -q'


def landing_page(root, titles, instructor):
    edition = "instructor's edition" if instructor else "student edition"
    rows = "\n".join(f"{i}. [{title}]({name}.ipynb)" for i, (name, title) in enumerate(titles, 1))
    toc = "\n".join(name for name, _ in titles)
    return f"""# Deep learning for vision: the course

*The {edition}.*

A course in the spirit of Stanford's CS231n assignments, as autograded Jupyter notebooks: from
k-nearest neighbours and linear classifiers to fully connected networks, batch norm and dropout,
convolutional networks and network visualisation. Behind the notebooks stands `course_lib`, a
library of reference implementations in readable NumPy, accelerated with Numba. Everything runs
offline on the embedded 8x8 handwritten digits (CIFAR-10 is downloaded on request).

## How to start

From the course repository:

```bash
{_start_commands(root)}
```

Then open a notebook in JupyterLab (`jupyter lab`): `assignments/<name>/<name>.ipynb` (with the
package alone, `course-lib notebooks my-course` writes them into `my-course/`). Each one
teaches, asks you for a function, checks it on the spot, and ends with an interactive panel.

## The notebooks, in order

{rows}

Each notebook page lists the lecture notes to read alongside it. [How the library is built](architecture.md)
describes its layers, backends and conventions.

```{{toctree}}
:hidden:
:caption: Notebooks

{toc}
```

```{{toctree}}
:hidden:
:caption: The library

architecture
```
"""


CONF = '''\
project = {project!r}
author = "course-lib"
extensions = ["myst_nb", "sphinx-mathjax-offline"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
nb_execution_mode = "off"          # executed (and cached) by course_lib.site beforehand
nb_ipywidgets_js = {{}}              # no widget JavaScript from a CDN
nb_merge_streams = True
exclude_patterns = ["_build"]
html_theme = "sphinx_book_theme"
html_title = {project!r}
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {{"use_download_button": False, "use_fullscreen_button": False,
                      "show_toc_level": 2}}
html_context = {{"default_mode": "auto"}}  # without it the theme logs a console error at first visit
html_last_updated_fmt = None
suppress_warnings = ["myst.header"]
'''


def build(out, instructor=False, root=None, cache=None, log=print, jobs=2):
    """Build the site into `out`; returns the path of its index.html."""
    import nbformat
    from sphinx.application import Sphinx

    started = time.monotonic()
    root = repository_root(root)
    cache = Path(cache) if cache else default_cache()
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()) and not (out / ".buildinfo").is_file():
        raise SystemExit(f"{out} exists and is not a site built before: give an empty or new --out")
    names = notebook_names(root)
    log(f"course site ({'instructor' if instructor else 'student'}): {len(names)} notebooks from {root}")
    executed = executed_solutions(root, names, cache, log=log, jobs=jobs)
    panels_dir = root / "docs" / "panels"
    with tempfile.TemporaryDirectory(prefix="course-site-src-") as tmp:
        src = Path(tmp) / "src"
        (src / "panels").mkdir(parents=True)
        panels = {}
        for name in names:
            shots = sorted(panels_dir.glob(f"{name}*.png")) if panels_dir.is_dir() else []
            if shots:
                shutil.copy(shots[0], src / "panels" / shots[0].name)
                panels[name] = f"panels/{shots[0].name}"
        titles = []
        for name in names:
            if instructor:
                nb = executed[name]
            else:
                release = json.loads((root / "assignments" / name / f"{name}.ipynb").read_text())
                nb = student_notebook(release, executed[name])
            page = page_notebook(nb, name, reading(root, name), panels, instructor)
            nbformat.validate(nbformat.from_dict(page))
            (src / f"{name}.ipynb").write_text(json.dumps(page, indent=1))
            titles.append((name, _title(page, name)))
        shutil.copy(root / "docs" / "architecture.md", src / "architecture.md")
        (src / "index.md").write_text(landing_page(root, titles, instructor))
        project = "Deep learning for vision" + (" (instructor)" if instructor else "")
        (src / "conf.py").write_text(CONF.format(project=project))
        # MyST-NB writes next to Sphinx's output folder (../jupyter_execute): build in the copy
        html = Path(tmp) / "build" / "html"
        app = Sphinx(str(src), str(src), str(html), str(Path(tmp) / "build" / "doctrees"), "html",
                     freshenv=True, status=None)
        app.build()
        if app.statuscode:
            raise RuntimeError(f"sphinx failed with status {app.statuscode}")
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(html, out)
    log(f"built {out / 'index.html'} in {time.monotonic() - started:.1f} s")
    return out / "index.html"


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog="course-lib site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="course-site", help="folder of the site (default: course-site)")
    parser.add_argument("--instructor", action="store_true",
                        help="render the executed solution notebooks (answers included)")
    parser.add_argument("--root", default=None, help="the course repository (default: found)")
    parser.add_argument("--cache", default=None,
                        help=f"executed notebooks are cached here (default: {default_cache()})")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default: 2)")
    args = parser.parse_args(argv)
    try:
        import myst_nb  # noqa: F401
        import sphinx  # noqa: F401
    except ImportError as e:
        raise SystemExit(f"the site needs the `site` extra: pip install -e '.[site]' ({e})")
    index = build(args.out, instructor=args.instructor, root=args.root, cache=args.cache,
                  jobs=args.jobs)
    print(f"open {index.as_uri()}")
    return 0
