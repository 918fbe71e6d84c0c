#!/usr/bin/env python3
"""Builds a Lambda layer with unixODBC and an ODBC driver, from files the user supplies.

A vendor's driver cannot be fetched by this project (licences, accounts): the user extracts the
packages of the function's platform (Amazon Linux 2023, arm64 for the template's functions) into
one directory, as they would install (`rpm2cpio x.rpm | cpio -idm` for each), and names the
driver. The layer then holds, under /opt (where Lambda puts a layer's files):

    lib/             libodbc.so.2, libodbcinst.so.2 and every library they and the driver need
                     beyond glibc's (found among the user's files by name), and the libraries
                     named with --library (a driver may load some itself: SQL Server's loads
                     OpenSSL); /opt/lib is on Lambda's LD_LIBRARY_PATH, after the runtime's own
                     directories, so a library the runtime has is loaded from the runtime
    etc/odbcinst.ini the driver under the name given (the function sets ODBCSYSINI=/opt/etc)
    <vendor>/…       a driver that installs under /opt keeps its tree there (SQL Server's finds
                     its messages next to itself)

Every shared object is checked to be built for the layer's architecture, and every file to come
from the user's directory; a library that is needed and not there is named. On any refusal no
layer is left at --out (not even an earlier one). Usage: --help, and the README ("Deploying
through ODBC").
"""

import argparse
import os
import stat
import subprocess
import sys
import tempfile
import zipfile

# glibc's own libraries, which every Lambda runtime has.
RUNTIME_LIBRARIES = {
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libresolv.so.2",
    "libutil.so.1",
    "libanl.so.1",
    "ld-linux-aarch64.so.1",
    "ld-linux-x86-64.so.2",
}

MACHINES = {"arm64": "AArch64", "x86_64": "Advanced Micro Devices X86-64"}

DRIVER_MANAGER = ("libodbc.so.2", "libodbcinst.so.2")

# Lambda's limit on a function and its layers, unzipped (the function's own share not counted).
UNZIPPED_LIMIT = 250 * 1024 * 1024

ELF_MAGIC = b"\x7fELF"


class LayerError(Exception):
    pass


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == ELF_MAGIC


def readelf(path, flag):
    try:
        result = subprocess.run(
            ["readelf", flag, "--wide", path], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise LayerError("readelf is needed (Debian: binutils; Amazon Linux: binutils)") from None
    if result.returncode != 0:
        raise LayerError(f"{path}: readelf cannot read it: {result.stderr.strip()}")
    return result.stdout


def machine(path):
    if not is_elf(path):
        return None
    for line in readelf(path, "-h").splitlines():
        if line.strip().startswith("Machine:"):
            return line.split(":", 1)[1].strip()
    return None


def needed(path):
    names = []
    for line in readelf(path, "-d").splitlines():
        if "(NEEDED)" in line and "[" in line:
            names.append(line.rsplit("[", 1)[1].rstrip("]"))
    return names


class Source:
    """The user's directory: every file in it by name, and a check that a path stays in it."""

    def __init__(self, root):
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise LayerError(f"--from {root}: not a directory")
        self.by_name = {}
        for directory, _, files in os.walk(self.root):
            for name in files:
                self.by_name.setdefault(name, []).append(os.path.join(directory, name))

    def inside(self, path):
        """`path` resolved, if it is a file inside the directory (a link that leads out, loops
        or dangles is refused)."""
        real = os.path.realpath(path)
        if os.path.commonpath([real, self.root]) != self.root or not os.path.isfile(real):
            return None
        return real

    def library(self, name, want):
        """The file of the library `name` for the architecture `want`: the first of its
        candidates (by path) that is one."""
        for path in sorted(self.by_name.get(name, [])):
            real = self.inside(path)
            if real is not None and machine(real) == want:
                return real
        return None


def parse_driver(text):
    name, separator, path = text.partition("=")
    name = name.strip()
    if not separator or not name or not path.strip():
        raise LayerError(f"--driver {text!r}: expected NAME=PATH (PATH inside --from)")
    # The name goes in an odbcinst.ini section and in connection strings' Driver={…}.
    if any(c in name for c in "[]{};=") or not name.isprintable():
        raise LayerError(f"--driver name {name!r} holds one of []{{}};= or a control character")
    relative = os.path.normpath(path.strip().lstrip("/"))
    if relative.split(os.sep)[0] == ".." or not relative.isprintable():
        raise LayerError(f"--driver {name!r}: {path!r} leaves --from")
    parts = relative.split(os.sep)
    if parts[0] == "opt" and len(parts) < 3:
        raise LayerError(f"--driver {name!r}: under opt/, expected opt/VENDOR/…/DRIVER.so")
    return name, relative


class Stage:
    """The layer's files, staged in memory order: path in the layer → source file and mode."""

    def __init__(self):
        self.files = {}

    def add(self, in_layer, source, executable):
        if in_layer in self.files and self.files[in_layer][0] != source:
            raise LayerError(f"two files would be {in_layer} in the layer")
        self.files[in_layer] = (source, 0o755 if executable else 0o644)

    def total(self):
        return sum(os.path.getsize(source) for source, _ in self.files.values())


def build(source, drivers, libraries, arch, prefix):
    want = MACHINES[arch]
    stage = Stage()
    queue = []
    wrong = []
    for soname in DRIVER_MANAGER + tuple(libraries):
        path = source.library(soname, want)
        if path is None:
            raise LayerError(
                f"no {arch} {soname} in {source.root}"
                + (": extract unixODBC's package there (Amazon Linux 2023: unixODBC)"
                   if soname in DRIVER_MANAGER else "")
            )
        queue.append((path, f"lib/{soname}"))
    ini = []
    for name, relative in drivers:
        path = source.inside(os.path.join(source.root, relative))
        if path is None:
            raise LayerError(f"driver {name!r}: {relative} is not a file inside {source.root}")
        parts = relative.split(os.sep)
        if parts[0] == "opt":
            # Installed under /opt: its vendor's tree keeps its place (its messages, its
            # libraries), every file of it from inside --from.
            vendor = os.path.join(source.root, "opt", parts[1])
            for directory, _, files in os.walk(vendor):
                for file in files:
                    real = source.inside(os.path.join(directory, file))
                    relative_file = os.path.relpath(os.path.join(directory, file), vendor)
                    if real is None:
                        raise LayerError(
                            f"opt/{parts[1]}/{relative_file} leads outside {source.root}, loops "
                            "or dangles"
                        )
                    elf = is_elf(real)
                    if elf and machine(real) != want:
                        wrong.append(f"opt/{parts[1]}/{relative_file} ({machine(real)})")
                    stage.add(f"{parts[1]}/{relative_file}", real, elf)
            in_layer = "/".join(parts[1:])
            queue.append((path, None))
        else:
            in_layer = f"lib/{parts[-1]}"
            queue.append((path, in_layer))
        ini.append(f"[{name}]\nDescription={name}\nDriver={prefix}/{in_layer}\n")
    staged = set(DRIVER_MANAGER) | set(libraries)
    missing = {}
    done = set()
    while queue:
        path, in_layer = queue.pop(0)
        if (path, in_layer) in done:
            continue
        done.add((path, in_layer))
        found = machine(path)
        if found != want:
            wrong.append(f"{os.path.relpath(path, source.root)} ({found or 'not ELF'})")
            continue
        if in_layer is not None:
            stage.add(in_layer, path, True)
        for library in needed(path):
            if library in RUNTIME_LIBRARIES or library in staged:
                continue
            dependency = source.library(library, want)
            if dependency is None:
                missing.setdefault(library, os.path.basename(path))
                continue
            staged.add(library)
            queue.append((dependency, f"lib/{library}"))
    if wrong:
        raise LayerError(f"not built for {arch} ({want}): " + ", ".join(dict.fromkeys(wrong)))
    if missing:
        listed = ", ".join(f"{lib} (needed by {by})" for lib, by in sorted(missing.items()))
        raise LayerError(
            f"not in {source.root}: {listed}; extract the packages that hold them there"
        )
    total = stage.total()
    if total > UNZIPPED_LIMIT:
        raise LayerError(
            f"the layer would be {total} bytes unzipped, over Lambda's {UNZIPPED_LIMIT} for a "
            "function and its layers"
        )
    return stage, "\n".join(ini).encode(), total


def write_zip(stage, ini, out):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    descriptor, partial = tempfile.mkstemp(prefix=".odbc-layer-", dir=os.path.dirname(os.path.abspath(out)))
    os.close(descriptor)
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            entries = sorted(stage.files.items()) + [("etc/odbcinst.ini", (None, 0o644))]
            for in_layer, (source, mode) in entries:
                # A fixed time, so that the same files make the same layer.
                info = zipfile.ZipInfo(in_layer, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (mode | stat.S_IFREG) << 16
                if source is None:
                    archive.writestr(info, ini)
                else:
                    with open(source, "rb") as f, archive.open(info, "w") as entry:
                        while chunk := f.read(1 << 20):
                            entry.write(chunk)
        os.replace(partial, out)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def main():
    parser = argparse.ArgumentParser(
        description="Build a Lambda layer with unixODBC and an ODBC driver from extracted packages."
    )
    parser.add_argument("--from", dest="source", required=True,
                        help="directory holding the extracted packages (unixODBC, the driver, their libraries)")
    parser.add_argument("--driver", action="append", required=True, metavar="NAME=PATH",
                        help="the driver's name in connection strings (Driver={NAME}) and its "
                             "shared object, relative to --from; repeatable")
    parser.add_argument("--library", action="append", default=[], metavar="SONAME",
                        help="a library to include that nothing names as needed (one a driver "
                             "loads itself, e.g. libssl.so.3); repeatable")
    parser.add_argument("--arch", choices=sorted(MACHINES), default="arm64",
                        help="the functions' architecture [default: arm64, the template's]")
    parser.add_argument("--prefix", default="/opt",
                        help="where the layer's files are at run time [default: /opt, Lambda's]")
    parser.add_argument("--out", required=True, help="the layer's zip")
    args = parser.parse_args()
    prefix = args.prefix.rstrip("/")
    try:
        # No layer from an earlier run may pass for this one's if this one fails.
        if os.path.lexists(args.out):
            os.remove(args.out)
        if not os.path.isabs(args.prefix) or not args.prefix.isprintable():
            raise LayerError(f"--prefix {args.prefix!r}: an absolute path, printable")
        for soname in args.library:
            if "/" in soname or not soname.isprintable():
                raise LayerError(f"--library {soname!r}: a library's file name")
        drivers = [parse_driver(text) for text in args.driver]
        stage, ini, total = build(Source(args.source), drivers, args.library, args.arch, prefix)
        write_zip(stage, ini, args.out)
    except (LayerError, OSError) as error:
        print(f"odbc-layer: {error}", file=sys.stderr)
        return 1
    print(f"{args.out}: {os.path.getsize(args.out)} bytes ({total} unzipped), {args.arch}")
    for name, _ in drivers:
        print(f"  driver {name!r}: DATABASE_URL=odbc+<dialect>:Driver={{{name}}};…")
    print(f"  the function sets ODBCSYSINI={prefix}/etc (the template does)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
