#!/usr/bin/env python3
"""Builds a Lambda layer with unixODBC and an ODBC driver, from files the user supplies.

A vendor's driver cannot be fetched by this project (licences, accounts): the user extracts the
packages of the function's platform (Amazon Linux 2023, arm64 for the template's functions) into
one directory, as they would install (`rpm2cpio x.rpm | cpio -idm` for each), and names the
driver. The layer then holds, under /opt (where Lambda puts a layer's files):

    lib/             libodbc.so.2, libodbcinst.so.2 and every library they and the driver need
                     that the runtime lacks (found in the user's files by name; Lambda puts
                     /opt/lib on LD_LIBRARY_PATH)
    etc/odbcinst.ini the driver under the name given (the function sets ODBCSYSINI=/opt/etc)
    <vendor>/…       a driver that installs under /opt keeps its tree there (SQL Server's finds
                     its messages next to itself)

Every shared object is checked to be built for the layer's architecture; a library that is
needed and not in the user's files is named, with nothing written. Usage: see --help and the
README ("Deploying through ODBC").
"""

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile

# What every Lambda runtime has: glibc's own libraries. Anything else a library needs goes in
# the layer (a library the runtime also has is then loaded from /opt/lib, of the same platform).
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

# Lambda's limit on a function and its layers, unzipped.
UNZIPPED_LIMIT = 250 * 1024 * 1024


class LayerError(Exception):
    pass


def readelf(path, flag):
    result = subprocess.run(
        ["readelf", flag, "--wide", path], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise LayerError(f"{path} is not a shared object readelf can read: {result.stderr.strip()}")
    return result.stdout


def machine(path):
    for line in readelf(path, "-h").splitlines():
        if line.strip().startswith("Machine:"):
            return line.split(":", 1)[1].strip()
    raise LayerError(f"{path}: no machine in its ELF header")


def needed(path):
    names = []
    for line in readelf(path, "-d").splitlines():
        if "(NEEDED)" in line and "[" in line:
            names.append(line.rsplit("[", 1)[1].rstrip("]"))
    return names


def index_files(root):
    """Every file name under `root` → its paths (symbolic links included: a library is often
    found by its soname, a link to the versioned file)."""
    found = {}
    for directory, _, files in os.walk(root):
        for name in files:
            found.setdefault(name, []).append(os.path.join(directory, name))
    return found


def resolve(found, name, root):
    for path in sorted(found.get(name, [])):
        real = os.path.realpath(path)
        # A link that leaves the user's files (an absolute one, say) is not theirs to give.
        if os.path.isfile(real) and os.path.commonpath([real, root]) == root:
            return real
    return None


def parse_driver(text):
    name, separator, path = text.partition("=")
    name, path = name.strip(), path.strip().lstrip("/")
    if not separator or not name or not path:
        raise LayerError(f"--driver {text!r}: expected NAME=PATH (PATH inside --from)")
    # The name goes in an odbcinst.ini section and in connection strings' Driver={…}.
    if any(c in name for c in "[]{};=\n\r"):
        raise LayerError(f"--driver name {name!r} holds one of []{{}};= or a line break")
    return name, path


def build(source, drivers, arch, prefix, out):
    source = os.path.realpath(source)
    if not os.path.isdir(source):
        raise LayerError(f"--from {source}: not a directory")
    want = MACHINES[arch]
    found = index_files(source)
    stage = tempfile.mkdtemp(prefix="odbc-layer-")
    try:
        os.makedirs(os.path.join(stage, "lib"))
        os.makedirs(os.path.join(stage, "etc"))
        queue = []
        for soname in DRIVER_MANAGER:
            path = resolve(found, soname, source)
            if path is None:
                raise LayerError(
                    f"{soname} is not in {source}: extract unixODBC's package there "
                    "(Amazon Linux 2023: unixODBC)"
                )
            queue.append((path, os.path.join("lib", soname)))
        ini = []
        for name, relative in drivers:
            path = os.path.join(source, relative)
            if not os.path.isfile(path):
                raise LayerError(f"driver {name!r}: {relative} is not a file in {source}")
            if relative.startswith("opt/"):
                # Installed under /opt: its whole vendor tree keeps its place in the layer.
                vendor = relative.split("/")[1]
                shutil.copytree(
                    os.path.join(source, "opt", vendor),
                    os.path.join(stage, vendor),
                    symlinks=False,
                    dirs_exist_ok=True,
                )
                in_layer = relative[len("opt/"):]
                queue.append((os.path.realpath(path), None))
            else:
                in_layer = os.path.join("lib", os.path.basename(relative))
                queue.append((os.path.realpath(path), in_layer))
            ini.append(f"[{name}]\nDescription={name}\nDriver={prefix}/{in_layer}\n")
        staged = set(DRIVER_MANAGER)
        missing = {}
        wrong = []
        done = set()
        while queue:
            path, destination = queue.pop(0)
            if path in done:
                continue
            done.add(path)
            found_machine = machine(path)
            if found_machine != want:
                wrong.append(f"{os.path.relpath(path, source)} ({found_machine})")
                continue
            if destination is not None:
                shutil.copyfile(path, os.path.join(stage, destination))
                os.chmod(os.path.join(stage, destination), 0o755)
            for library in needed(path):
                if library in RUNTIME_LIBRARIES or library in staged:
                    continue
                dependency = resolve(found, library, source)
                if dependency is None:
                    missing.setdefault(library, os.path.basename(path))
                    continue
                staged.add(library)
                queue.append((dependency, os.path.join("lib", library)))
        if wrong:
            raise LayerError(f"not built for {arch} ({want}): " + ", ".join(wrong))
        if missing:
            listed = ", ".join(f"{lib} (needed by {by})" for lib, by in sorted(missing.items()))
            raise LayerError(
                f"not in {source}: {listed}; extract the packages that hold them there"
            )
        with open(os.path.join(stage, "etc", "odbcinst.ini"), "w", encoding="utf-8") as f:
            f.write("\n".join(ini))
        total = write_zip(stage, out)
        if total > UNZIPPED_LIMIT:
            raise LayerError(
                f"the layer is {total} bytes unzipped, over Lambda's {UNZIPPED_LIMIT} for a "
                "function and its layers"
            )
        return total
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_zip(stage, out):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    total = 0
    partial = out + ".partial"
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for directory, _, files in sorted(os.walk(stage)):
            for name in sorted(files):
                path = os.path.join(directory, name)
                info = zipfile.ZipInfo.from_file(path, os.path.relpath(path, stage))
                info.compress_type = zipfile.ZIP_DEFLATED
                mode = os.stat(path).st_mode
                info.external_attr = (stat.S_IMODE(mode) | stat.S_IFREG) << 16
                with open(path, "rb") as f:
                    data = f.read()
                total += len(data)
                archive.writestr(info, data)
    os.replace(partial, out)
    return total


def main():
    parser = argparse.ArgumentParser(
        description="Build a Lambda layer with unixODBC and an ODBC driver from extracted packages."
    )
    parser.add_argument("--from", dest="source", required=True,
                        help="directory holding the extracted packages (unixODBC, the driver, their libraries)")
    parser.add_argument("--driver", action="append", required=True, metavar="NAME=PATH",
                        help="the driver's name in connection strings (Driver={NAME}) and its "
                             "shared object, relative to --from; repeatable")
    parser.add_argument("--arch", choices=sorted(MACHINES), default="arm64",
                        help="the functions' architecture [default: arm64, the template's]")
    parser.add_argument("--prefix", default="/opt",
                        help="where the layer's files are at run time [default: /opt, Lambda's]")
    parser.add_argument("--out", required=True, help="the layer's zip")
    args = parser.parse_args()
    try:
        drivers = [parse_driver(text) for text in args.driver]
        total = build(args.source, drivers, args.arch, args.prefix.rstrip("/"), args.out)
    except LayerError as error:
        print(f"odbc-layer: {error}", file=sys.stderr)
        return 1
    print(f"{args.out}: {os.path.getsize(args.out)} bytes ({total} unzipped), {args.arch}")
    for name, _ in drivers:
        print(f"  driver {name!r}: DATABASE_URL=odbc+<dialect>:Driver={{{name}}};…")
    print(f"  the function sets ODBCSYSINI={args.prefix.rstrip('/')}/etc (the template does)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
