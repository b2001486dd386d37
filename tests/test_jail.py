"""autograder.jail on its own: what a program inside can and cannot reach."""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from autograder.sandbox import runtime_paths, system_libraries


def shown():
    """--ro arguments for Python: its installation and the system libraries it loads."""
    paths = runtime_paths()
    return [f"--ro={p}" for p in [*paths, *system_libraries(tuple(paths))]]

PROBE = textwrap.dedent('''
    import os, socket, sys
    print("uid", os.getuid())
    print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
    print("root", sorted(os.listdir("/")))
    print("etc/ssl", sorted(os.listdir("/etc/ssl")))
    for path in sys.argv[1:]:
        try:
            open(path).read() if os.path.isfile(path) else os.listdir(path)
            print("reached", path)
        except OSError:
            print("out of reach", path)
    try:
        open("/usr/new-file", "w").write("x")
        print("wrote into /usr")
    except OSError:
        print("system read-only")
    s = socket.socket()
    s.settimeout(2)
    print("internet", "reachable" if s.connect_ex(("1.1.1.1", 80)) == 0 else "unreachable")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    print("loopback", "works" if socket.socket().connect_ex(server.getsockname()) == 0 else "broken")
    try:
        with open("big", "wb") as f:
            f.write(b"x" * 3 * 1024 * 1024)
        print("wrote 3 MB")
    except OSError:
        print("file size limited")
    total = 0
    try:
        for i in range(100):
            with open(f"/tmp/part-{i}", "wb") as f:
                f.write(b"x" * 1024 * 1024)
            total += 1
    except OSError:
        pass
    print("disk", total)
    forks = 0
    try:
        for _ in range(200):
            if os.fork() == 0:
                import time
                time.sleep(5)
                os._exit(0)
            forks += 1
    except OSError:
        pass
    print("forks", forks)
''')


def jail(tmp_path, *args, command):
    stage = tmp_path / f"stage-{len(list(tmp_path.iterdir()))}"
    stage.mkdir()
    uid = ["--uid", "61999"] if os.geteuid() == 0 else []
    cmd = [sys.executable, "-m", "autograder.jail", "--stage", str(stage), *uid, *shown(), *args, "--", *command]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_the_jail_shows_only_what_it_was_given_and_limits_resources(tmp_path):
    secret = tmp_path / "course" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the answers")
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    repo = Path(__file__).resolve().parents[1]
    out = jail(tmp_path, f"--copy={probe}=/home/student/probe.py", "--file-mb", "1", "--disk-mb", "20",
               "--processes", "20", command=[sys.executable, "probe.py", str(secret), str(tmp_path),
                                             str(repo / ".git"), str(repo / "solutions"), "/etc/shadow"])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "pids [1]" in lines  # its own PID namespace and /proc
    for path in (secret, tmp_path, repo / ".git", repo / "solutions", "/etc/shadow"):
        assert f"out of reach {path}" in lines
    assert "private" not in next(x for x in lines if x.startswith("etc/ssl "))  # keys are kept there
    assert "system read-only" in lines and "internet unreachable" in lines and "loopback works" in lines
    assert "file size limited" in lines
    assert int(next(x for x in lines if x.startswith("disk ")).split()[1]) < 20  # the tmpfs is full at 20 MB
    assert int(lines[-1].split()[1]) < 20
    assert lines[0] == ("uid 61999" if os.geteuid() == 0 else "uid 1000")
    assert secret.read_text() == "the answers" and not list(Path("/tmp").glob("part-*"))


def test_the_python_of_a_virtual_environment_runs_inside(tmp_path):
    """A venv whose base interpreter lives in a folder others may not enter (a private home, as
    with pyenv under /root) still runs: the jail binds what it needs, and nothing beside it."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    out = jail(tmp_path, f"--ro={venv}", command=[str(python), "-c", "import sys; print(sys.prefix)"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(venv)


def test_the_command_dies_with_the_jail_and_takes_its_children(tmp_path):
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(120)\nos._exit(0)"
    out = jail(tmp_path, command=[sys.executable, "-c", code])
    assert out.returncode == 0, out.stderr
    # PID 1 exited: the daemon it left was killed with the namespace
    leftover = subprocess.run(["pgrep", "-f", "time.sleep\\(120\\)"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_the_jail_dies_with_the_process_that_started_it(tmp_path):
    """A grading worker killed mid-run (a broken pool terminates its workers) leaves no jail behind:
    before, the jail and its command lived on with no time limit."""
    stage = tmp_path / "stage"
    stage.mkdir()
    uid = ["--uid", "61998"] if os.geteuid() == 0 else []
    jail_cmd = [sys.executable, "-m", "autograder.jail", "--stage", str(stage), *uid, *shown(), "--", sys.executable, "-c",
                "import time; print('in', flush=True); time.sleep(300)"]
    starter = ("import subprocess, sys, os\n"
               f"p = subprocess.Popen({jail_cmd!r}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)\n"
               "print(p.pid, p.stdout.readline().decode().strip(), flush=True)\n"
               "os._exit(0)\n")  # ends without waiting for its jail, as a killed worker does
    out = subprocess.run([sys.executable, "-c", starter], capture_output=True, text=True, timeout=60)
    pid, started = out.stdout.split()
    assert started == "in", out.stderr
    import time
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    leftover = subprocess.run(["pgrep", "-f", "time.sleep\\(300\\)"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


SYSCALLS = textwrap.dedent('''
    import ctypes, mmap, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    def result(value):
        return "ok" if value >= 0 else os.strerror(ctypes.get_errno())
    fd = os.open(sys.executable, os.O_RDONLY)
    page = mmap.mmap(fd, 4096, prot=mmap.PROT_READ)
    address = ctypes.addressof(ctypes.c_char.from_buffer_copy(b"x"))  # any address will do for mincore's refusal
    vec = ctypes.create_string_buffer(1)
    buf = ctypes.create_string_buffer(4096)
    iov = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 4096)
    print("keyctl", result(libc.syscall(250, 22, -1, -3)))
    print("unshare", result(libc.unshare(0x10000000)))
    print("fadvise", result(libc.syscall(221, fd, 0, 4096, 4)))
    print("mincore", result(libc.syscall(27, ctypes.c_void_p(address & ~4095), 4096, vec)))
    print("preadv2-nowait", result(libc.syscall(327, fd, iov, 1, 0, 0, 8)))
    print("preadv2", result(libc.syscall(327, fd, iov, 1, 0, 0, 0)))
    print("thread", __import__("threading").Thread(target=lambda: None).start() or "ok")
''')


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the probe uses x86-64 system call numbers")
def test_the_seccomp_filter_refuses_what_reaches_outside_and_allows_the_rest(tmp_path):
    probe = tmp_path / "syscalls.py"
    probe.write_text(SYSCALLS)
    out = jail(tmp_path, f"--copy={probe}=/home/student/p.py", command=[sys.executable, "p.py"])
    assert out.returncode == 0, out.stderr
    said = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    for call in ("keyctl", "unshare", "fadvise", "mincore"):
        assert said[call] == "Operation not permitted", (call, said)
    assert said["preadv2-nowait"] == "Operation not supported" and said["preadv2"] == "ok"
    assert said["thread"] == "ok"  # clone3 answers ENOSYS, and libc falls back to clone


def test_a_jail_that_cannot_be_built_says_why(tmp_path):
    out = subprocess.run([sys.executable, "-m", "autograder.jail", "--stage", str(tmp_path / "missing"),
                          "--", "true"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 97 and "cannot" in out.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to become another user")
def test_without_root_the_jail_uses_a_user_namespace():
    """Run as an ordinary user: a user namespace instead of a uid, no capability left."""
    python = "/usr/bin/python3"
    if not os.path.exists(python):
        pytest.skip("no system Python that an ordinary user can run")
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        for name in ("jail.py", "seccomp.py"):
            shutil.copy(Path(__file__).resolve().parents[1] / "autograder" / name, folder / name)
        (folder / "stage").mkdir()
        (folder / "stage").chmod(0o777)
        code = "import os; print(os.getuid(), open('/proc/self/status').read().split('CapEff:')[1].split()[0])"
        from autograder.elf import libraries
        stdlib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                                capture_output=True, text=True, check=True).stdout.strip()
        given = [f"--ro={p}" for p in [python, stdlib, *libraries([os.path.realpath(python)])[0]]]
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python,
                              str(folder / "jail.py"), "--stage", str(folder / "stage"), *given, "--", python, "-c", code],
                             capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if out.returncode == 97 and "unshare" in out.stderr:
        pytest.skip(f"user namespaces are not allowed here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1000", "0000000000000000"]


def test_every_installed_copy_of_the_library_in_the_shown_paths_is_hidden(tmp_path, monkeypatch):
    """A student-style attack found a virtual environment's copy of course_lib (guide data and
    references included) importable in the jail while the grader ran from a checkout: the copy
    the grader's process imports was the checkout's, and only that one was hidden."""
    from autograder.sandbox import installed_copies
    prefix = tmp_path / "venv"
    venv_copy = prefix / "lib" / "python3.11" / "site-packages" / "course_lib"
    system_copy = tmp_path / "usr" / "lib" / "python3" / "dist-packages" / "autograder"
    on_path = tmp_path / "elsewhere" / "course_lib"
    outside = tmp_path / "not-shown" / "course_lib"
    for folder in (venv_copy, system_copy, on_path, outside):
        folder.mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [*sys.path, str(on_path.parent), str(outside.parent)])
    found = installed_copies([str(prefix), str(tmp_path / "usr"), str(tmp_path / "elsewhere")])
    assert {str(venv_copy), str(system_copy), str(on_path)} <= set(found)
    assert str(outside) not in found  # not shown in the jail: nothing to hide


def test_a_checkout_or_nested_environment_in_the_shown_paths_is_hidden_whole(tmp_path):
    """A re-attack found the course's repository in a shown path (pip install -e git+...: the
    checkout in <venv>/src/) giving solutions/ to a submission; and nested environments (pyenv's
    and conda's envs/) and eggs missed."""
    from autograder.sandbox import installed_copies
    venv = tmp_path / "venv"
    checkout = venv / "src" / "course-lib"
    for folder in ("course_lib", "solutions/02_svm", ".git"):
        (checkout / folder).mkdir(parents=True)
    nested = venv / "envs" / "other" / "lib" / "python3.11" / "site-packages"
    (nested / "course_lib").mkdir(parents=True)
    egg = venv / "lib" / "python3.11" / "site-packages" / "autograder-0.1-py3.11.egg"
    egg.mkdir(parents=True)
    found = installed_copies([str(venv)])
    assert str(checkout) in found and str(checkout / "course_lib") not in found  # the repository whole
    assert str(nested / "course_lib") in found and str(egg) in found


def test_hidden_folders_and_files_show_empty(tmp_path):
    shown = tmp_path / "shown"
    (shown / "copy").mkdir(parents=True)
    (shown / "copy" / "answers.py").write_text("ANSWER = 42")
    (shown / "zipped.egg").write_text("PK the answers")
    (shown / "kept.txt").write_text("kept")
    code = ("import os, sys\nprint(os.listdir(sys.argv[1]), repr(open(sys.argv[2]).read()) if os.access(sys.argv[2], os.R_OK) "
            "else 'unreadable', open(sys.argv[3]).read())")
    out = jail(tmp_path, f"--ro={shown}", f"--hide={shown / 'copy'}", f"--hide={shown / 'zipped.egg'}",
               command=[sys.executable, "-c", code, str(shown / "copy"), str(shown / "zipped.egg"),
                        str(shown / "kept.txt")])
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("[] ") and "the answers" not in out.stdout and out.stdout.strip().endswith("kept")


def test_the_runner_waits_for_bound_sockets_never_links_and_not_for_a_dead_jail(tmp_path):
    import socket
    import time

    from autograder.execute import _wait_for_sockets
    bound = socket.socket(socket.AF_UNIX)
    bound.bind(str(tmp_path / "k-1"))
    (tmp_path / "k-2").symlink_to(tmp_path / "k-1")  # a link to a socket is not the kernel's socket
    assert _wait_for_sockets([str(tmp_path / "k-1")], wait=5)
    assert not _wait_for_sockets([str(tmp_path / "k-1"), str(tmp_path / "k-2")], wait=0.3)
    started = time.monotonic()
    assert not _wait_for_sockets([str(tmp_path / "k-3")], wait=60, alive=lambda: False)
    assert time.monotonic() - started < 5  # the jail ended: no waiting out the minute
    bound.close()


def test_install_records_that_name_the_checkouts_path_are_hidden(tmp_path):
    """A re-attack read the repository's path from an editable install's finder (and the
    dist-info's direct_url.json) in the jail's site-packages: a path to aim a link at."""
    from autograder.sandbox import installed_copies, shown_host_paths
    site_packages = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    records = [site_packages / "__editable___course_lib_0_1_0_finder.py",
               site_packages / "__editable__.course_lib-0.1.0.pth", site_packages / "course_lib-0.1.0.dist-info"]
    site_packages.mkdir(parents=True)
    for record in records[:2]:
        record.write_text("/home/instructor/course-lib")
    records[2].mkdir()
    (site_packages / "numpy-2.0.dist-info").mkdir()
    found = installed_copies([str(tmp_path / "venv")])
    assert {str(r) for r in records} <= set(found)
    assert str(site_packages / "numpy-2.0.dist-info") not in found
    real = [p for folder in sys.path if os.path.isdir(folder) for p in Path(folder).glob("__editable__*course_lib*")]
    assert {str(p) for p in real} <= set(installed_copies(shown_host_paths()))  # this machine's own, if editable


def test_only_the_courses_dependencies_can_be_imported_in_the_jail(tmp_path):
    """A student-style attack imported PyTorch (installed for the benchmarks) in the jail and had
    its autograd compute every backward pass. The jail shows course-lib's dependencies and theirs,
    and nothing else installed beside them."""
    from autograder.sandbox import course_packages, jail_distributions
    needed = jail_distributions()
    assert {"numpy", "numba", "ipykernel", "ipython", "matplotlib", "scipy", "ipywidgets"} <= needed
    # scikit-learn's MLP computes a network's backward pass (a student-style attack used it)
    assert not {"pytest", "torch", "sympy", "hypothesis", "dask", "scikit-learn", "nbgrader", "jupyterlab"} & needed
    from autograder.sandbox import shown_host_paths
    selected = course_packages(tuple([*runtime_paths(), *shown_host_paths()]))
    code = ("import importlib.util as u, os, site, sys\n"
            "for name in ('numpy', 'numba', 'IPython', 'ipykernel', 'matplotlib', 'scipy', 'sklearn', 'ipywidgets',"
            " 'pytest', 'hypothesis', 'torch', 'sympy', 'xdist', 'nbgrader'):\n"
            "    print(name, u.find_spec(name) is not None)\n"
            "import numpy, IPython, ipykernel, matplotlib.pyplot, ipywidgets\n"
            "for folder in site.getsitepackages():\n"
            "    cache = os.path.join(folder, '__pycache__')\n"
            "    print('listed', folder, ','.join(sorted(os.listdir(folder)) + sorted(\n"
            "          '__pycache__/' + f for f in (os.listdir(cache) if os.path.isdir(cache) else []))) or '-')\n")
    not_shown = tmp_path / "not-shown" / "site-packages"  # a selection outside the jail changes nothing
    not_shown.mkdir(parents=True)
    out = jail(tmp_path, *(f"--select={folder}={','.join(names)}" for folder, names in selected.items()),
               f"--select={not_shown}=x", command=[sys.executable, "-c", code])
    assert out.returncode == 0 and out.stderr == "", out.stderr
    found = dict(line.split() for line in out.stdout.splitlines() if not line.startswith("listed "))
    listed = [line.split(" ", 2) for line in out.stdout.splitlines() if line.startswith("listed ")]
    assert listed
    for _, folder, names in listed:  # the selection and nothing else, compiled files included
        shown_here = set() if names == "-" else set(names.split(","))
        assert shown_here <= set(selected.get(os.path.realpath(folder), ())) | {"__pycache__"}, (folder, shown_here)
    # a compiled module whose source is gone is loaded by hand (SourcelessFileLoader): only those
    # of the distributions shown are there (an attack loaded pytest's and the editable finder's)
    assert not any(n.startswith("__pycache__/") and n.split("/")[1].split(".")[0] in ("py", "isympy")
                   or "__editable__" in n for _, _, names in listed for n in names.split(","))
    assert all(found[n] == "True" for n in ("numpy", "numba", "IPython", "ipykernel", "matplotlib", "scipy",
                                             "ipywidgets")), found
    # scikit-learn too: its MLP computes a network's backward pass
    assert all(found[n] == "False" for n in ("pytest", "hypothesis", "torch", "sympy", "xdist", "sklearn",
                                              "nbgrader")), found


def test_the_jail_shows_every_package_that_course_lib_imports_where_a_jail_runs_it():
    """JAIL_DISTRIBUTIONS is written by hand: it must name what course_lib's modules import (all
    but the learner's and instructor's own commands, which never run in a jail)."""
    import ast
    import importlib.metadata as metadata

    from packaging.utils import canonicalize_name

    from autograder.sandbox import jail_distributions
    library = Path(__file__).resolve().parents[1] / "course_lib"
    host_only = {"site.py", "selfcheck/command.py", "__main__.py"}  # the `course-lib` command's
    owners = metadata.packages_distributions()
    missing = set()
    for path in library.rglob("*.py"):
        if path.relative_to(library).as_posix() in host_only:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                       [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in ("course_lib", "autograder"):
                    continue
                if not {canonicalize_name(d) for d in owners.get(top, [top])} & jail_distributions():
                    missing.add(f"{top} ({path.relative_to(library)})")
    assert not missing, f"imported by course_lib, not shown in a jail: {sorted(missing)}"


def test_the_jail_shows_python_and_the_libraries_it_loads_and_nothing_else(tmp_path):
    """Student-style attacks found Python trees under /usr when it was shown whole (the Cloud
    SDK's vendored packages and its own Python, /usr/share/python-wheels), then every program of
    the Python prefix's bin/ (ruff, py-spy, ...): every file in the jail is now Python's (its
    standard library and package folders), a library it loads, or one of the public files of /etc."""
    from autograder.jail import ETC
    code = ("import os, sys\n"
            "for folder, dirs, files in os.walk('/'):\n"
            "    dirs[:] = [d for d in dirs if os.path.join(folder, d) not in ('/proc', '/dev', '/sys')]\n"
            "    for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:\n"
            "        print(os.path.join(folder, name))\n"
            "import numpy, scipy.linalg, numba, matplotlib.pyplot, ipykernel, zmq\n"
            "print('imported')\n")
    out = jail(tmp_path, command=[sys.executable, "-c", code])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "imported"
    paths = runtime_paths()
    libraries = set(system_libraries(tuple(paths)))
    public = {"/etc/passwd", "/etc/group"} | {f"/etc/{name}" for name in ETC}

    real = {os.path.realpath(p) for p in [*libraries, *paths]}

    def allowed(path):
        inside = any(path == p or path.startswith(p.rstrip("/") + "/") for p in [*paths, *public])
        return inside or os.path.realpath(path) in real
    # a link made on the way to a library (/lib -> usr/lib) gives nothing of its own
    stray = [p for p in lines[:-1] if not allowed(p) and not os.path.islink(p)]
    assert not stray, stray[:20]
    assert any(p.startswith("/usr/lib/") or p.startswith("/lib/") for p in lines)  # libc, at least
    tools = os.path.join(sys.base_prefix, "bin")
    assert not any(p.startswith(tools + "/") and os.path.realpath(p) != os.path.realpath(sys.executable)
                   for p in lines), "a program of the Python prefix's bin/ is in the jail"
    for absent in ("/usr/bin/env", "/usr/share/python-wheels", "/usr/lib/python3/dist-packages", "/bin/sh"):
        assert not any(p == absent or p.startswith(absent + "/") for p in lines), absent


@pytest.mark.skipif(shutil.which("ldd") is None, reason="ldd is the independent account of what loads")
def test_the_libraries_found_from_the_headers_are_those_the_loader_loads():
    """autograder.elf against the loader itself (ldd): the same files, for the interpreter and for
    compiled modules with bundled libraries (RUNPATH $ORIGIN) and with system ones."""
    import glob
    import importlib.util

    from autograder.elf import libraries
    roots = [os.path.realpath(sys.executable)]
    for module in ("numpy.core._multiarray_umath", "numpy._core._multiarray_umath", "_ssl", "_sqlite3",
                   "zmq.backend.cython._zmq", "llvmlite.binding"):
        try:
            spec = importlib.util.find_spec(module)
        except ImportError:
            continue
        if spec and spec.origin and spec.origin.endswith(".so"):
            roots.append(spec.origin)
        elif spec and spec.submodule_search_locations:
            roots += glob.glob(os.path.join(spec.submodule_search_locations[0], "*.so"))
    assert len(roots) >= 4, roots
    for root in roots:
        listed = subprocess.run(["ldd", root], capture_output=True, text=True, check=True).stdout
        expected = set()
        for line in listed.splitlines():
            path = line.split("=>")[-1].split("(")[0].strip()
            if path.startswith("/"):
                expected.add(os.path.realpath(path))
        found, missing = libraries([root])
        assert {os.path.realpath(p) for p in found} == expected, (root, missing)


def test_a_system_python_is_shown_by_its_own_folders_not_by_its_prefix(monkeypatch):
    """Python installed in /usr: the jail shows its interpreter, standard library and package
    folders, not /usr (which holds every other program and vendored Python tree)."""
    import site

    import autograder.sandbox as sandbox
    for name in ("prefix", "base_prefix", "exec_prefix", "base_exec_prefix"):
        monkeypatch.setattr(sys, name, "/usr")
    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    monkeypatch.setattr(sys, "_base_executable", "/usr/bin/python3", raising=False)
    monkeypatch.setattr(site, "getsitepackages", lambda: ["/usr/lib/python3/dist-packages"])
    paths = sandbox.runtime_paths()
    assert "/usr" not in paths and "/usr/bin/python3" in paths, paths
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for path in paths:
        assert path == "/usr/bin/python3" or path.startswith(
            (f"/usr/lib/{version}", "/usr/lib/python3/", f"/usr/local/lib/{version}/")), path


def test_the_new_roots_folders_are_never_writable_by_others_whatever_the_graders_umask(tmp_path):
    stage = tmp_path / "stage"
    stage.mkdir()
    library = tmp_path / "lib"
    library.mkdir()
    code = ("import os, stat\n"
            "for folder in ('/etc', '/etc/ssl', '/opt', '/opt/course', '/usr', '/usr/lib'):\n"
            "    print(folder, oct(stat.S_IMODE(os.stat(folder).st_mode)))\n")
    uid = ["--uid", "61997"] if os.geteuid() == 0 else []
    cmd = [sys.executable, "-m", "autograder.jail", "--stage", str(stage), *uid, *shown(),
           f"--copy={library}=/opt/course/lib", "--", sys.executable, "-c", code]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, preexec_fn=lambda: os.umask(0))
    assert out.returncode == 0, out.stderr
    modes = dict(line.split() for line in out.stdout.splitlines())
    assert len(modes) == 6 and not [f for f, m in modes.items() if int(m, 8) & 0o022], modes


def test_every_jail_starts_with_matplotlibs_font_list_which_names_no_host_folder(tmp_path):
    """Matplotlib lists the fonts it finds on its first import, into its config folder, which is
    new in every jail: that scan cost each jail 0.15-0.2 s until the course kept the list
    (worker.font_list), of Matplotlib's own fonts only (a jail shows no system font)."""
    import json

    from autograder import edition, worker
    from autograder.model import Limits
    from autograder.sandbox import MPLCONFIG, Sandbox
    (tmp_path / "course").mkdir()
    folder = worker.font_list(tmp_path / "course")
    (listed,) = folder.iterdir()
    names = [font["fname"] for font in json.loads(listed.read_text())["ttflist"]]
    assert names and not [n for n in names if n.startswith("/")], names  # relative to Matplotlib's data
    library, _ = edition.notebook_library(tmp_path / "edition")
    (tmp_path / "scratch").mkdir()
    sandbox = Sandbox(tmp_path / "scratch", Limits(), 61999 if os.geteuid() == 0 else None)
    code = ["--", sys.executable, "-c", "import logging; logging.basicConfig(level=logging.INFO)\n"
            "import matplotlib.font_manager as fm; print(fm.findfont('DejaVu Sans'))"]
    kept = subprocess.run(sandbox.command(library, copies=[(folder, MPLCONFIG)]) + code, capture_output=True,
                          text=True, timeout=120)
    assert kept.returncode == 0 and "DejaVuSans.ttf" in kept.stdout, kept.stderr
    assert "generated new fontManager" not in kept.stderr, kept.stderr
    scanned = subprocess.run(sandbox.command(library) + code, capture_output=True, text=True, timeout=120)
    assert scanned.returncode == 0 and "generated new fontManager" in scanned.stderr, scanned.stderr
