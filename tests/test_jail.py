"""autograder.jail on its own: what a program inside can and cannot reach."""
import os
import subprocess
import sys
import textwrap

PROBE = textwrap.dedent('''
    import os, resource, socket, sys
    hidden = sys.argv[1]
    try:
        open(os.path.join(hidden, "secret.txt")).read()
        print("read the secret")
    except OSError:
        print("secret out of reach")
    s = socket.socket()
    s.settimeout(2)
    print("internet", "reachable" if s.connect_ex(("1.1.1.1", 80)) == 0 else "unreachable")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    print("loopback", "works" if socket.socket().connect_ex(server.getsockname()) == 0 else "broken")
    print("pid", os.getpid())
    try:
        with open("big", "wb") as f:
            f.write(b"x" * 3 * 1024 * 1024)
        print("wrote 3 MB")
    except OSError:
        print("file size limited")
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


def test_the_jail_hides_files_blocks_the_network_and_limits_resources(tmp_path):
    hidden, work = tmp_path / "course", tmp_path / "work"
    hidden.mkdir()
    work.mkdir()
    (hidden / "secret.txt").write_text("the answers")
    (work / "probe.py").write_text(PROBE)
    uid = ["--uid", "61999"] if os.geteuid() == 0 else []
    if uid:
        os.chown(work, 61999, 61999)
        os.chown(work / "probe.py", 61999, 61999)
    out = subprocess.run([sys.executable, "-m", "autograder.jail", "--workdir", str(work),
                          "--hide", str(hidden), "--file-mb", "1", "--processes", "20", *uid,
                          "--expose", sys.prefix, "--", sys.executable, "probe.py", str(hidden)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "secret out of reach" in lines and "internet unreachable" in lines
    assert "loopback works" in lines and "pid 1" in lines  # PID 1 of its own namespace
    assert "file size limited" in lines
    assert int(lines[-1].split()[1]) < 20
    assert (hidden / "secret.txt").read_text() == "the answers"


def test_a_jail_that_cannot_be_built_says_why(tmp_path):
    out = subprocess.run([sys.executable, "-m", "autograder.jail", "--workdir", str(tmp_path / "missing"),
                          "--", "true"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 97 and "cannot" in out.stderr
