"""`course-lib site`: the course as a static HTML site (course_lib/site.py). The student and the
instructor sites are built once for the module, offline (no network namespace where the machine
allows one), with a fresh cache; then Debian's Chromium (Playwright, file:// URLs, every request
that is not a local file refused and recorded) crawls each site from its index: every page loads
without console errors or remote requests, its pictures load, its maths is typeset by the local
MathJax, every relative link resolves; each notebook page carries its reading; and the student
site holds no line of a solution, while the instructor site does (the check can see them).

.ci/run sets COURSE_REQUIRE_BROWSER=1, so in CI a missing browser fails instead of skipping.
"""
import html.parser
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from notebook_tools import ASSIGNMENTS, NAMES, ROOT, SOLUTIONS, load, source
from test_browser import CHROMIUM, CHROMIUM_ARGS, _browser_or_skip

pytest.importorskip("myst_nb", reason="the site needs the `site` extra: pip install -e '.[site]'")

MATH_PAGES = ["01_knn", "02_svm", "05_batchnorm_dropout"]  # known to hold $...$ maths
_SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION", re.M | re.S)


def _offline(command):
    """The command in a network namespace of its own with only loopback up (the kernels talk to
    nbclient over it), if this machine lets us make one; else as it is."""
    wrapped = ["unshare", "--net", "--map-root-user", "sh", "-c", 'ip link set lo up && exec "$@"',
               "sh", *command]
    if shutil.which("unshare") and shutil.which("ip"):
        probe = subprocess.run(wrapped[:-len(command)] + ["true"], capture_output=True)
        if probe.returncode == 0:
            return wrapped, True
    return command, False


def _sources_snapshot():
    return {p: p.stat().st_mtime_ns for folder in ("solutions", "assignments", "docs", "course_lib")
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """{"student": folder, "instructor": folder}: both built offline with one fresh cache."""
    tmp = tmp_path_factory.mktemp("site")
    # COURSE_SITE_CACHE: a cache kept between runs, to iterate on the site without executing the
    # notebooks every time; by default (and in CI) a fresh one, so the execution is tested too
    cache = Path(os.environ.get("COURSE_SITE_CACHE") or tmp / "cache")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [
        p for p in [os.environ.get("PYTHONPATH")] if p]))
    before = _sources_snapshot()
    built, timings = {}, {}
    for edition in ("student", "instructor"):
        out = tmp / edition
        command = [sys.executable, "-m", "course_lib", "site", "--out", str(out), "--cache", str(cache)]
        command += ["--instructor"] if edition == "instructor" else []
        command, isolated = _offline(command)
        started = time.monotonic()
        run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        timings[edition] = time.monotonic() - started
        assert run.returncode == 0, f"{edition} build failed:\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
        warnings = [line for line in run.stderr.splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL):", line)]
        assert not warnings, f"the {edition} build warned:\n" + "\n".join(warnings[:20])
        assert (out / "index.html").is_file()
        built[edition] = out
    print(f"site builds (offline namespace: {isolated}): " +
          ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    assert _sources_snapshot() == before, "the build changed files in the repository"
    leftovers = [p.name for p in tmp.iterdir() if p.name not in ("cache", "student", "instructor")]
    assert not leftovers, leftovers
    return built


def _executed(sites, name):
    cache = Path(os.environ.get("COURSE_SITE_CACHE") or sites["student"].parent / "cache")
    return load(next((cache / "executed").glob(f"{name}-*.ipynb")))


class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


def _text(path):
    parser = _Text()
    parser.feed(Path(path).read_text())
    return "".join(parser.parts)


def _solution_lines(name):
    """Lines of the solution regions that appear nowhere in the student release."""
    released = "\n".join(source(c) for c in load(ASSIGNMENTS / name / f"{name}.ipynb")["cells"])
    lines = set()
    for cell in load(SOLUTIONS / name / f"{name}.ipynb")["cells"]:
        for body in _SOLUTION.findall(source(cell)):
            lines |= {line.strip() for line in body.splitlines()
                      if len(line.strip()) >= 20 and line.strip() not in released}
    return lines


@pytest.mark.slow
def test_student_site_holds_no_solution_and_instructor_site_does(sites):
    found_any = False
    for name in NAMES:
        lines = _solution_lines(name)
        student = _text(sites["student"] / f"{name}.html")
        instructor = _text(sites["instructor"] / f"{name}.html")
        leaked = [line for line in lines if line in student]
        assert not leaked, f"{name}: the student site shows solution code: {leaked[:3]}"
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "BEGIN MARK SCHEME"):
            assert marker not in student, (name, marker)
        shown = [line for line in lines if line in instructor]
        found_any |= bool(shown)
        assert len(shown) >= len(lines) // 2, f"{name}: the instructor site lacks its solutions"
        assert "NotImplementedError" in student and "is not written yet" in student
    assert found_any


@pytest.mark.slow
def test_student_site_shows_figures_from_the_instructors_run(sites):
    """The plain cells' figures are there; no printed output at all (a test cell's, or numbers)."""
    for name in NAMES:
        page = (sites["student"] / f"{name}.html").read_text()
        figures = sum("image/png" in out.get("data", {}) for cell in _executed(sites, name)["cells"]
                      if not (cell["metadata"].get("nbgrader", {}).get("solution")
                              or cell["metadata"].get("nbgrader", {}).get("grade"))
                      for out in cell.get("outputs", []))
        assert figures and page.count("<img") >= figures, f"{name}: figures missing on the student page"
        assert "output stream" not in page and "output text_plain" not in page, name


def _crawl(index):
    """Every page reachable from index by relative links, with what the browser saw on it."""
    from playwright.sync_api import sync_playwright

    pages, queue, problems = {}, [index.resolve().as_uri()], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            remote = []
            context.route("**/*", lambda route: (route.continue_() if route.request.url.startswith("file:")
                                                 else (remote.append(route.request.url), route.abort())))
            while queue:
                url = queue.pop()
                if url in pages:
                    continue
                page = context.new_page()
                errors = []
                page.on("console", lambda m, e=errors: m.type == "error" and e.append(m.text))
                page.on("pageerror", lambda exc, e=errors: e.append(str(exc)))
                page.goto(url, wait_until="load")
                if page.evaluate("() => !!document.querySelector('.math')"):
                    page.wait_for_function("() => window.MathJax && MathJax.startup && "
                                           "MathJax.startup.document && MathJax.startup.promise", timeout=30000)
                    page.evaluate("() => MathJax.startup.promise")
                info = page.evaluate("""() => ({
                    broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)
                                 .map(i => i.src),
                    images: document.images.length,
                    mjx: document.querySelectorAll('mjx-container').length,
                    math: document.querySelectorAll('.math').length,
                    hrefs: Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href')),
                    reading: Array.from(document.querySelectorAll('.reading a[href]')).map(a => a.href),
                    ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
                    prose: (() => {
                        const c = document.querySelector('main') || document.body;
                        const copy = c.cloneNode(true);
                        copy.querySelectorAll('pre, code, script, style, mjx-container, .highlight, .output')
                            .forEach(e => e.remove());
                        return copy.textContent;
                    })(),
                })""")
                info["errors"], info["url"] = errors, url
                pages[url] = info
                page.close()
                for href in info["hrefs"]:
                    if re.match(r"^[a-z][a-z0-9+.-]*:", href, re.I) or href.startswith("//"):
                        continue  # external (the reading, the CS231n notes): not followed offline
                    target, fragment = urldefrag(_join(url, href))
                    path = Path(unquote(urlparse(target).path))
                    if not path.exists():
                        problems.append(f"{url}: {href} -> missing {path}")
                        continue
                    if path.is_dir():
                        path = path / "index.html"
                        target = path.as_uri()
                    if path.suffix == ".html":
                        queue.append(target)
                        if fragment:
                            problems.extend(_fragment_problem(path, fragment, url, href))
            assert not remote, f"the site asked for remote resources: {sorted(set(remote))[:10]}"
        finally:
            browser.close()
    return pages, problems


def _join(base, href):
    from urllib.parse import urljoin
    return urljoin(base, href)


def _fragment_problem(path, fragment, url, href):
    text = path.read_text()
    if f'id="{unquote(fragment)}"' in text or f"id='{unquote(fragment)}'" in text:
        return []
    return [f"{url}: {href} -> no #{fragment} in {path.name}"]


@pytest.fixture(scope="module")
def crawled(sites):
    _browser_or_skip()
    return {edition: _crawl(folder / "index.html") for edition, folder in sites.items()}


@pytest.mark.slow
@pytest.mark.parametrize("edition", ["student", "instructor"])
def test_every_page_loads_cleanly_with_its_pictures_and_links(crawled, edition):
    pages, problems = crawled[edition]
    names = {Path(urlparse(u).path).stem for u in pages}
    assert {"index", "architecture", *NAMES} <= names, sorted(names)
    assert not problems, "\n".join(problems[:20])
    for url, info in pages.items():
        assert not info["errors"], f"{url}: console errors {info['errors'][:5]}"
        assert not info["broken"], f"{url}: pictures that did not load {info['broken'][:5]}"
    for name in NAMES:
        info = next(i for u, i in pages.items() if Path(urlparse(u).path).stem == name)
        assert info["images"] >= 1, f"{name}: no pictures"


@pytest.mark.slow
@pytest.mark.parametrize("edition", ["student", "instructor"])
def test_maths_is_typeset_by_the_local_mathjax(crawled, sites, edition):
    pages, _ = crawled[edition]
    for url, info in pages.items():
        name = Path(urlparse(url).path).stem
        assert info["math"] > 0 or name not in MATH_PAGES, f"{name}: no maths found"
        assert info["mjx"] >= info["math"], f"{name}: {info['math']} formulas, {info['mjx']} typeset"
        raw = re.findall(r"\$[^$\n]{1,80}\$|\\\(|\\\[", info["prose"])
        assert not raw, f"{name}: maths left as TeX: {raw[:5]}"
    assert (sites[edition] / "_static" / "mathjax" / "tex-chtml.js").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("edition", ["student", "instructor"])
def test_each_notebook_page_links_its_reading(crawled, edition):
    from course_lib.site import reading
    pages, _ = crawled[edition]
    for name in NAMES:
        info = next(i for u, i in pages.items() if Path(urlparse(u).path).stem == name)
        wanted = [url for _, url in reading(ROOT, name)]
        assert wanted, name
        assert all(url in info["reading"] for url in wanted), (name, wanted, info["reading"])


def test_reading_comes_from_guide_toml_with_a_fallback(tmp_path):
    from course_lib.site import FALLBACK_READING, reading
    (tmp_path / "solutions" / "01_knn").mkdir(parents=True)
    assert reading(tmp_path, "01_knn") == FALLBACK_READING["01_knn"]
    (tmp_path / "solutions" / "01_knn" / "guide.toml").write_text(
        '[[reading]]\ntitle = "Notes"\nurl = "https://example.org/notes/"\n')
    assert reading(tmp_path, "01_knn") == [("Notes", "https://example.org/notes/")]
    assert set(FALLBACK_READING) >= set(NAMES)


def test_student_notebook_takes_only_the_plain_cells_pictures():
    """Quick tier: with every cell of the instructor's run given a picture and printed text, the
    student page keeps the release's sources and only the pictures of cells that are neither
    answers nor tests."""
    from course_lib.site import student_notebook
    for name in NAMES:
        executed = load(SOLUTIONS / name / f"{name}.ipynb")
        for cell in executed["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ok\n"},
                                   {"output_type": "display_data", "metadata": {},
                                    "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}}]
        release = load(ASSIGNMENTS / name / f"{name}.ipynb")
        page = student_notebook(release, executed)
        assert [source(c) for c in page["cells"]] == [source(c) for c in release["cells"]]
        for cell in page["cells"]:
            if cell["cell_type"] != "code":
                continue
            meta = cell["metadata"].get("nbgrader", {})
            plain = not (meta.get("solution") or meta.get("grade"))
            assert cell["outputs"] == ([{"output_type": "display_data", "metadata": {},
                                         "data": {"image/png": "iVBORw0KGgo="}}] if plain else [])


def test_without_a_clone_the_site_says_where_to_build_it_and_how_to_get_the_notebooks(tmp_path):
    from course_lib.site import repository_root
    with pytest.raises(SystemExit) as stop:
        repository_root(tmp_path)
    assert "a clone of the course repository" in str(stop.value) and "course-lib notebooks FOLDER" in str(stop.value)
    assert repository_root(ROOT) == ROOT.resolve()
