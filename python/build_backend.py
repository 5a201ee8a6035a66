# SPDX-License-Identifier: MIT
"""build_backend.py - the PEP 517 build backend of the statemgr package, so
that ``python3 -m pip install ./python`` works with no network and nothing
but python3's headers (Debian: python3-dev) and a C compiler: it needs no
setuptools or wheel (pyproject.toml names it with backend-path).

It compiles python/src/*.c into statemgr/_statemgr<EXT_SUFFIX>, linked with
the static libstatemgr of a CMake build of this repository, copies that
build's statemgrd into statemgr/_bin/, and writes a wheel of the package.
Build the C project first (./scripts/setup.sh, or cmake -S . -B build &&
cmake --build build); STATEMGR_BUILD_DIR names another build directory
(default: ../build).
"""
import base64
import glob
import hashlib
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NAME = "statemgr"


def _version():
    with open(os.path.join(ROOT, "include", "statemgr.h")) as f:
        text = f.read()
    return ".".join(text.split("#define SM_VERSION_%s " % p, 1)[1].split()[0]
                    for p in ("MAJOR", "MINOR", "PATCH"))


def _build_dir():
    build = os.path.abspath(os.environ.get("STATEMGR_BUILD_DIR", os.path.join(ROOT, "build")))
    for f in ("libstatemgr.a", "statemgrd"):
        if not os.path.exists(os.path.join(build, f)):
            raise SystemExit("statemgr: %s is missing: build the C project first "
                             "(./scripts/setup.sh, or cmake -S . -B build && cmake --build build), "
                             "or set STATEMGR_BUILD_DIR" % os.path.join(build, f))
    return build


def _tag():
    impl = "cp%d%d" % sys.version_info[:2]
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return impl, impl, plat


def _compile(out_path, build):
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    sources = sorted(glob.glob(os.path.join(HERE, "src", "*.c")))
    cmd = cc + ["-shared", "-fPIC", "-O2", "-g", "-std=c11", "-D_GNU_SOURCE", "-Wall",
                "-fvisibility=hidden",
                "-I" + sysconfig.get_paths()["include"], "-I" + os.path.join(ROOT, "include"),
                *sources, os.path.join(build, "libstatemgr.a"),
                "-lprotobuf-c", "-lssl", "-lcrypto", "-pthread", "-o", out_path]
    subprocess.run(cmd, check=True)


def _metadata(version):
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: Shared state for Python "
            "processes, served by statemgrd: a drop-in for multiprocessing.managers\n"
            "License: MIT\nRequires-Python: >=3.8\n" % (NAME, version))


def _wheel_name(version):
    return "%s-%s-%s.whl" % (NAME, version, "-".join(_tag()))


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    version = _version()
    dist_info = "%s-%s.dist-info" % (NAME, version)
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w") as f:
        f.write(_metadata(version))
    return dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    build = _build_dir()
    version = _version()
    dist_info = "%s-%s.dist-info" % (NAME, version)
    files = []  # (archive name, path or bytes, mode)
    pkg = os.path.join(HERE, NAME)
    for path in sorted(glob.glob(os.path.join(pkg, "*.py")) + glob.glob(os.path.join(pkg, "*.pyi"))
                       + [os.path.join(pkg, "py.typed")]):
        files.append((NAME + "/" + os.path.basename(path), path, 0o644))
    with tempfile.TemporaryDirectory() as tmp:
        ext = os.path.join(tmp, "_statemgr" + sysconfig.get_config_var("EXT_SUFFIX"))
        _compile(ext, build)
        files.append((NAME + "/" + os.path.basename(ext), ext, 0o755))
        files.append((NAME + "/_bin/statemgrd", os.path.join(build, "statemgrd"), 0o755))
        impl, abi, plat = _tag()
        files.append((dist_info + "/METADATA", _metadata(version).encode(), 0o644))
        files.append((dist_info + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: statemgr "
                                             "build_backend\nRoot-Is-Purelib: false\nTag: "
                                             "%s-%s-%s\n" % (impl, abi, plat)).encode(), 0o644))
        files.append((dist_info + "/top_level.txt", (NAME + "\n").encode(), 0o644))
        name = _wheel_name(version)
        record = []
        with zipfile.ZipFile(os.path.join(wheel_directory, name), "w",
                             zipfile.ZIP_DEFLATED) as z:
            for arcname, src, mode in files:
                data = src if isinstance(src, bytes) else open(src, "rb").read()
                info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                record.append("%s,sha256=%s,%d" % (arcname, digest.decode(), len(data)))
            record.append(dist_info + "/RECORD,,")
            z.writestr(dist_info + "/RECORD", "\n".join(record) + "\n")
    return name
