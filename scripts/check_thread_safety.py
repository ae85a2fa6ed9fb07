#!/usr/bin/env python3
"""Checks the lock annotations (GUARDED_BY, REQUIRES, ... of common/thread_annotations.h)
with clang's -Wthread-safety, which GCC ignores: every C++ file of the project, tests
included, is compiled with clang-14 and -fsyntax-only (no code is generated), and any
thread-safety warning is an error. Run by `make lint` (so by `make test`); exits non-zero naming the files.

Usage: scripts/check_thread_safety.py [BUILD_DIR]   (default build-tsa, configured here)
"""
import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def configure(build_dir: Path) -> None:
    env = dict(os.environ, CC="clang-14", CXX="clang++-14")
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir), "-G", "Ninja",
                    "-DINGESTER_BENCHMARKS=OFF", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def syntax_only(entry: dict) -> list:
    """The compile command of one file, made to check it only."""
    args = shlex.split(entry["command"])
    out = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-o", "-c"):
            skip = arg == "-o"
            continue
        if arg in ("-Werror", "-g") or arg.startswith("-O"):
            continue
        out.append(arg)
    # ignored-attributes too: an annotation clang drops (e.g. written after a trailing
    # return type) would otherwise silently check nothing.
    return out + ["-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety",
                  "-Werror=ignored-attributes", entry["file"]]


def main() -> int:
    build_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build-tsa"
    configure(build_dir)
    entries = json.loads((build_dir / "compile_commands.json").read_text())
    entries = [e for e in entries if e["file"].endswith(".cc") and
               str(ROOT / "src") in e["file"]]

    def check(entry):
        r = subprocess.run(syntax_only(entry), cwd=entry["directory"],
                           capture_output=True, text=True)
        return entry["file"], r.returncode, r.stderr

    failed = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for path, code, stderr in pool.map(check, entries):
            if code != 0:
                failed.append(path)
                sys.stdout.write(stderr)
    print(f"check_thread_safety: {len(entries)} files, {len(failed)} failed")
    for path in failed:
        print(f"check_thread_safety: FAILED {os.path.relpath(path, ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
