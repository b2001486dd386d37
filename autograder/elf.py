"""Which shared libraries a set of programs and extension modules load, found the way the dynamic
loader finds them (DT_NEEDED, RPATH/RUNPATH with $ORIGIN, the ld.so cache, the default folders):
what a jail must show of the system's folders for Python to run, and nothing else.

Read from the files' headers, not by running `ldd` (which starts the loader once per file: 8 s
for the 370 extension modules of a course's packages).
"""
import functools
import mmap
import os
import struct
import subprocess
import sysconfig

PT_DYNAMIC, PT_INTERP, PT_LOAD = 2, 3, 1
DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 1, 5, 15, 29
MULTIARCH = sysconfig.get_config_var("MULTIARCH")  # Debian's x86_64-linux-gnu, the loader's own folders
DEFAULT_FOLDERS = (*(f"{p}/{MULTIARCH}" for p in ("/lib", "/usr/lib") if MULTIARCH),
                   "/lib", "/usr/lib", "/lib64", "/usr/lib64")


class Elf:
    """One ELF file's dynamic-linking facts: interpreter, needed sonames, rpath, runpath."""

    def __init__(self, path):
        self.path = path
        self.needed, self.rpath, self.runpath = [], [], []
        with open(path, "rb") as f:  # mapped: only the headers are read (llvmlite's is 100 MB)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                self._parse(data)

    def _parse(self, data):
        path = self.path
        if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
            raise ValueError(f"{path}: not an ELF file")
        wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
        self.kind = (data[4], data[5], struct.unpack_from(order + "H", data, 18)[0])  # class, order, machine
        if wide:
            phoff, = struct.unpack_from(order + "Q", data, 32)
            phentsize, phnum = struct.unpack_from(order + "HH", data, 54)
            header, entry = order + "IIQQQQQQ", order + "qQ"
        else:
            phoff, = struct.unpack_from(order + "I", data, 28)
            phentsize, phnum = struct.unpack_from(order + "HH", data, 42)
            header, entry = order + "IIIIIIII", order + "iI"
        segments = []
        for i in range(phnum):
            fields = struct.unpack_from(header, data, phoff + i * phentsize)
            if wide:  # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz
                segments.append((fields[0], fields[2], fields[3], fields[5]))
            else:  # p_type, p_offset, p_vaddr, p_paddr, p_filesz
                segments.append((fields[0], fields[1], fields[2], fields[4]))
        self.interpreter = next((data[off:off + size].split(b"\0")[0].decode()
                                 for kind, off, _, size in segments if kind == PT_INTERP), None)
        dynamic = next(((off, size) for kind, off, _, size in segments if kind == PT_DYNAMIC), None)
        if dynamic is None:
            return
        tags, step = [], struct.calcsize(entry)
        for off in range(dynamic[0], dynamic[0] + dynamic[1], step):
            tag, value = struct.unpack_from(entry, data, off)
            if tag == 0:
                break
            tags.append((tag, value))
        strtab = next((v for t, v in tags if t == DT_STRTAB), None)
        # the string table is given as an address: the file offset is found through the segment
        # that loads it
        base = next((off + strtab - vaddr for kind, off, vaddr, size in segments
                     if kind == PT_LOAD and vaddr <= strtab < vaddr + size), None) if strtab is not None else None
        if base is None:
            return

        def text(offset):
            return data[base + offset:data.find(b"\0", base + offset)].decode()

        origin = os.path.dirname(os.path.abspath(path))
        for tag, value in tags:
            if tag == DT_NEEDED:
                self.needed.append(text(value))
            elif tag in (DT_RPATH, DT_RUNPATH):
                folders = [p.replace("$ORIGIN", origin).replace("${ORIGIN}", origin)
                           for p in text(value).split(":") if p]
                (self.rpath if tag == DT_RPATH else self.runpath).extend(folders)


@functools.lru_cache(maxsize=1)
def _cache():
    """{soname: [paths]} from the loader's cache (`ldconfig -p`); empty where there is none."""
    found = {}
    for ldconfig in ("/sbin/ldconfig", "/usr/sbin/ldconfig"):
        if not os.path.exists(ldconfig):
            continue
        try:
            out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=30,
                                 env={"LC_ALL": "C"}).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines()[1:]:
            name, _, path = line.strip().partition(" => ")
            if path:
                found.setdefault(name.split(" (")[0], []).append(path)
        break
    return found


@functools.lru_cache(maxsize=4096)
def _read(path):
    try:
        return Elf(path)
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        return None


def _resolve(name, elf, rpaths, loaded):
    """The path the loader would load `name` from, needed by `elf` (whose RPATH and its loaders'
    are `rpaths`); None if none is found. `loaded`: {file name: path} of what is loaded already,
    which the loader reuses (a wheel's bundled libraries find each other so)."""
    if "/" in name:
        return name if _read(name) else None
    if name in loaded:
        return loaded[name]
    # an object with a RUNPATH searches it instead of every RPATH (ld.so(8))
    candidates = [os.path.join(f, name) for f in (elf.runpath or rpaths)]
    candidates += _cache().get(name, [])
    candidates += [os.path.join(f, name) for f in DEFAULT_FOLDERS]
    for path in candidates:
        other = _read(path) if os.path.isfile(path) else None
        if other is not None and other.kind == elf.kind:  # the loader skips another architecture's
            return path
    return None


def libraries(roots):
    """(every file a loader opens to run the ELF files `roots`: their interpreters and the closure
    of their needed libraries, as paths the loader uses (links and all), the names it could not
    find). Files that are not ELF are skipped."""
    found, missing = set(), set()
    todo = [(root, ()) for root in roots]
    loaded = {os.path.basename(root): root for root in roots}
    while todo:
        path, inherited = todo.pop()
        elf = _read(path)
        if elf is None:
            continue
        if elf.interpreter:
            found.add(elf.interpreter)
        # an object's RPATH serves its own needs and those of every object loaded on its behalf
        rpaths = (*elf.rpath, *inherited)
        for name in elf.needed:
            where = _resolve(name, elf, rpaths, loaded)
            if where is None:
                missing.add(name)
            elif where not in found:
                found.add(where)
                loaded.setdefault(name, where)
                todo.append((where, rpaths))
    return sorted(found), sorted(missing)
