"""A caching front end for a gcc-style compiler: for many builds that share most of their sources.

    python cc_cache.py CACHE_DIR COMPILER ARG...

does what ``COMPILER ARG...`` does for a compile-and-link command line (C sources in, one image
out, as `edgetrain.device.build.build_firmware` writes it), but compiles each ``.c`` file on its
own into an object kept in ``CACHE_DIR`` and links the objects with the full command line. That
is what the gcc driver does itself (one ``cc1`` per file, then ``collect2``), so the image is the
same; only the objects of translation units seen before are not compiled again. The coverage
matrix (`edgetrain.coverage`) builds a few hundred tiny firmwares that share the C runtime.

An object's key is the sha256 of the compiler (resolved path, size, mtime), the compile flags
except include directories, and the translation unit after preprocessing with those flags
(``-E -P``): the contents of every header it includes, every ``-D`` and whatever the source sees
of its own path (``__FILE__``) are in the key; the directories the sources sit in are not (the
include directories act only through the preprocessed text, and without ``-g`` line markers and
paths do not reach the object; with ``-g``, which writes them into the debug information, the
key also holds the source's real path, the working directory and every flag). An object enters
the cache only when it compiled without a diagnostic, so a hit has none to repeat.

Any other command line (``-c``, ``-E``, ``-S``, dependency output, no ``.c`` input) runs
the compiler unchanged. Standard library only: it runs as a script, once per build.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Flags for the link step only (passing them to `gcc -c` would at best be ignored).
LINK_ONLY_PREFIXES = ("-l", "-L", "-T", "-Wl,")
LINK_ONLY_FLAGS = ("-nostartfiles", "-nostdlib", "-nodefaultlibs", "-static", "-shared")
# Command lines that are not a plain compile-and-link: run as given.
# Flags whose side files (stack usage, temporaries, dumps, coverage notes) land beside the object.
PASSTHROUGH_PREFIXES = (
    "-c",
    "-E",
    "-S",
    "-M",
    "-flto",
    "--",
    "-fstack-usage",
    "-save-temps",
    "-fdump",
    "-fprofile",
    "-fcallgraph-info",
    "-Wa,",
)


def split_command(args: list[str]) -> tuple[list[str], list[str], list[str]] | None:
    """(compile flags, C sources, everything else in order with the sources' slots marked by
    None) for a compile-and-link command line; None for one to run unchanged."""
    flags: list[str] = []
    sources: list[str] = []
    # --specs= (newlib-nano's) selects headers and libraries: a compile and a link flag, as gcc takes it.
    if any(a.startswith(PASSTHROUGH_PREFIXES) and not a.startswith("--specs=") for a in args) or "-o" not in args:
        return None
    for i, a in enumerate(args):
        if i > 0 and args[i - 1] == "-o":
            continue
        if a.endswith(".c") and not a.startswith("-"):
            sources.append(a)
        elif a.startswith("-") and a != "-o" and not (a.startswith(LINK_ONLY_PREFIXES) or a in LINK_ONLY_FLAGS):
            flags.append(a)
    return (flags, sources, args) if sources else None


def compiler_identity(compiler: str) -> str:
    """The compiler's resolved path, size and modification time: part of every object key, so a new
    compiler misses the cache."""
    real = os.path.realpath(shutil.which(compiler) or compiler)
    st = os.stat(real)
    return f"{real}:{st.st_size}:{st.st_mtime_ns}"


def object_key(compiler: str, flags: list[str], source: str) -> str | None:
    """The cache key of ``source`` compiled with ``flags``; None when it does not preprocess
    (the real compile then reports why)."""
    pre = subprocess.run([compiler, *flags, "-E", "-P", source], capture_output=True, check=False)
    if pre.returncode != 0:
        return None
    h = hashlib.sha256(compiler_identity(compiler).encode())
    if any(f.startswith("-g") for f in flags):
        # Debug information names the source, its directory and the headers' paths: with -g an
        # object is only reused for the same file, directory and include path.
        h.update(f"{os.path.realpath(source)}\0{os.getcwd()}\0".encode())
        h.update("\0".join(flags).encode())
    else:
        h.update("\0".join(f for f in flags if not f.startswith("-I")).encode())
    h.update(b"\0\0" + pre.stdout)
    return h.hexdigest()


def cached_object(cache: Path, compiler: str, flags: list[str], source: str) -> tuple[Path | None, bytes]:
    """The object of ``source`` (compiled now or found in ``cache``) and the compiler's output;
    no object when the compile failed."""
    key = object_key(compiler, flags, source)
    obj = cache / f"{key}.o"
    if key is not None and obj.exists():
        return obj, b""
    fd, tmp = tempfile.mkstemp(suffix=".o", dir=cache)
    os.close(fd)
    proc = subprocess.run(
        [compiler, *flags, "-c", source, "-o", tmp], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False
    )
    if proc.returncode != 0:
        os.unlink(tmp)
        return None, proc.stdout
    if key is None or proc.stdout:  # a diagnostic must show on every build: keep it out of the cache
        return Path(tmp), proc.stdout
    os.replace(tmp, obj)  # atomic: two builds compiling the same unit leave one complete object
    return obj, b""


def main(argv: list[str]) -> int:
    """Run ``CACHE_DIR COMPILER ARG...`` (``argv``): compile each source through the cache and link
    the objects, or run the compiler unchanged for a command line it does not split; returns the
    exit status (1 when a compile failed)."""
    cache, compiler, args = Path(argv[0]), argv[1], argv[2:]
    split = split_command(args)
    if split is None:
        return subprocess.run([compiler, *args], check=False).returncode
    flags, sources, link = split
    objects: dict[str, str] = {}
    for source in sources:
        obj, output = cached_object(cache, compiler, flags, source)
        sys.stderr.buffer.write(output)
        if obj is None:
            return 1
        objects[source] = str(obj)
    return subprocess.run([compiler, *(objects.get(a, a) for a in link)], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
