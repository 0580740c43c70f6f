"""Writing output directories and files: the one place edgetrain puts what a user asked for.

Every output directory edgetrain writes (``export c -o``, ``export onnx -o``, ``ort-train -o``,
``emulate --keep``, the on-device training sources) carries a manifest, ``.edgetrain-output.json``:
the tool, its version and the SHA-256 of every file it wrote. The manifest is how edgetrain knows
what it may replace:

* a new path, an empty directory, or a directory holding only files its manifest lists with
  their recorded contents (an earlier edgetrain output, unmodified) is **replaced atomically**;
* a directory holding anything else (no manifest, files the manifest does not list, files changed
  since edgetrain wrote them) is **refused** with a `ConfigError` (exit status 2 in the CLI);
* with ``force=True`` (``--force``) such a directory is **written into**: edgetrain adds its
  files beside the others and removes only files its own manifest lists unmodified. It never
  overwrites or deletes a file it did not write: a name clash is refused, even with force;
* the file-system root, the home directory, the current directory and its parents, and any
  directory holding one of the command's inputs (``protect``) are refused, even with force;
* a path that exists and is not a directory is refused.

Atomic replacement: the new tree is written into ``.NAME.tmp-XXXXXXXX`` beside the target, every
file and directory is fsynced, then the two are swapped with ``renameat2(RENAME_EXCHANGE)`` (Linux)
and the old tree is removed, so the path always holds the complete old or the complete new output.
Where the exchange is not available the old tree is first renamed to ``.NAME.old-XXXXXXXX``; if the
process dies before the new tree takes its place, the next write to the same path restores the old
tree first (`recover`). Leftovers of interrupted writes (``.NAME.tmp-*``, ``.NAME.old-*``, recognised
by name and by holding an edgetrain manifest or nothing) are removed by the next write to that
path; a leftover still locked by a running writer (``flock``) is left alone. Writing into a
directory (``force``) is not atomic as a whole: each file is renamed into place on its own, and the
manifest lists the old and the new contents while that happens, so an interrupted write still
leaves only files edgetrain can recognise as its own.

Files and directories get the modes the umask gives (``0o666 & ~umask``, ``0o777 & ~umask``), not
the private modes of temporary files. Single files (`write_file`, used for ``.etm`` models) are
written to ``.NAME.tmp-XXXXXXXX``, fsynced, renamed over the target and the directory fsynced.

Every file-system change goes through one of the functions named in `FS_PRIMITIVES`, so a test can
interpose on each of them (and kill the process there).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import stat
import sys
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import ConfigError, ExportError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no advisory locks, leftovers are judged by name only
    fcntl = None  # type: ignore[assignment]

MANIFEST = ".edgetrain-output.json"
TOOL = "edgetrain"
FORCE_HINT = (
    "choose a new or empty directory, or an earlier edgetrain output; --force adds edgetrain's files "
    "beside the others and never overwrites or deletes a file edgetrain did not write"
)
#: For an option that has no --force (emulate/finetune --keep): the directory must be edgetrain's.
KEEP_HINT = "choose a new or empty directory, or one an earlier --keep wrote"
_SUFFIX = r"[a-z0-9_]{8}"  # what tempfile.mkdtemp / mkstemp append
_CHUNK = 1 << 20
_MANIFEST_TMP = re.compile(re.escape(f".{MANIFEST}.tmp-") + _SUFFIX + "$")


# ---------------------------------------------------------------- names


def safe_file_stem(name: str, default: str = "model", max_bytes: int = 120) -> str:
    """A file-name stem derived from a model name that stays inside the directory it is joined to.

    Letters and digits (any script), ``-``, ``_`` and ``.`` are kept; everything else (path
    separators, NUL and other control characters, spaces, quotes) becomes ``_``, and so does every
    run of two or more dots. Leading dots, dashes and underscores are removed (no hidden files,
    nothing that looks like an option), the stem is cut to ``max_bytes`` bytes of UTF-8, and an
    empty result becomes ``default``.
    """
    text = unicodedata.normalize("NFC", str(name))
    out = "".join(ch if (ch.isalnum() and ch.isprintable()) or ch in "-_." else "_" for ch in text)
    out = re.sub(r"\.{2,}", "_", out).lstrip("._-")
    while len(out.encode("utf-8")) > max_bytes:
        out = out[:-1]
    out = out.rstrip(".")  # "x." and "x" are the same file on some systems
    return out or default


# ---------------------------------------------------------------- primitives (every change goes through one)

FS_PRIMITIVES = (
    "_mkdtemp",
    "_mkstemp",
    "_mkdir",
    "_write_new",
    "_chmod",
    "_fsync_path",
    "_fsync_fd",
    "_rename",
    "_exchange",
    "_rename_noreplace",
    "_unlink",
    "_rmdir",
)


class _Unsupported(Exception):
    """renameat2 (or the flag) is not available on this system or file system."""


def _mkdtemp(parent: Path, prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def _mkstemp(parent: Path, prefix: str) -> tuple[int, Path]:
    fd, name = tempfile.mkstemp(prefix=prefix, dir=parent)
    return fd, Path(name)


def _mkdir(path: Path) -> None:
    os.mkdir(path)


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (it must not exist) with ``data``; the umask applies to its mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _chmod(path: Path, mode: int) -> None:
    os.chmod(path, mode)


def _fsync_path(path: Path) -> None:
    """fsync a file or a directory by path (directories: so the renames in them are durable)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:
        if os.name == "nt":  # pragma: no cover - directories cannot be opened there
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_fd(fd: int) -> None:
    os.fsync(fd)


def _rename(src: Path, dst: Path) -> None:
    os.replace(src, dst)


_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100
_renameat2: Any = None


def _renameat2_call(src: Path, dst: Path, flags: int) -> None:
    global _renameat2
    if not sys.platform.startswith("linux"):
        raise _Unsupported
    if _renameat2 is None:
        try:
            fn = ctypes.CDLL(None, use_errno=True).renameat2
        except (AttributeError, OSError):  # glibc < 2.28, musl without it
            _renameat2 = False
            raise _Unsupported from None
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        fn.restype = ctypes.c_int
        _renameat2 = fn
    if _renameat2 is False:
        raise _Unsupported
    if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) != 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise _Unsupported
        raise OSError(err, os.strerror(err), str(src), None, str(dst))


def _exchange(a: Path, b: Path) -> None:
    """Swap two existing paths atomically (``renameat2(RENAME_EXCHANGE)``); `_Unsupported` if impossible."""
    _renameat2_call(a, b, _RENAME_EXCHANGE)


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename, failing with FileExistsError if ``dst`` exists; `_Unsupported` if that cannot be guaranteed."""
    _renameat2_call(src, dst, _RENAME_NOREPLACE)


def _unlink(path: Path) -> None:
    os.unlink(path)


def _rmdir(path: Path) -> None:
    os.rmdir(path)


# ---------------------------------------------------------------- small helpers


def current_umask() -> int:
    """The process umask (read from /proc where possible: setting it to read it is racy)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _lock(path: Path, blocking: bool) -> int | None:
    """An fd holding an exclusive flock on ``path`` (not followed if a symlink); None if another
    process holds it (non-blocking) or locks are unavailable. The caller closes the fd."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    if path.is_dir():
        flags |= getattr(os, "O_DIRECTORY", 0)
    fd = os.open(path, flags)
    if fcntl is None:  # pragma: no cover
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _valid_rel(rel: Any) -> bool:
    """A manifest path: relative, '/'-separated, no '', '.', '..' parts, no NUL or backslash."""
    if not isinstance(rel, str) or not rel or rel.startswith("/") or "\x00" in rel or "\\" in rel:
        return False
    return all(part not in ("", ".", "..") for part in rel.split("/"))


def _raise(e: OSError) -> None:
    raise e


def _walk(root: Path) -> tuple[list[str], list[str]]:
    """(files, dirs) under ``root`` as '/'-separated relative paths; symlinks count as files.
    An unreadable directory raises (what it holds cannot be judged)."""
    files: list[str] = []
    dirs: list[str] = []
    for here, dnames, fnames in os.walk(root, onerror=_raise, followlinks=False):
        rel_here = Path(here).relative_to(root).as_posix()
        prefix = "" if rel_here == "." else rel_here + "/"
        for d in list(dnames):
            if os.path.islink(os.path.join(here, d)):
                dnames.remove(d)
                files.append(prefix + d)
            else:
                dirs.append(prefix + d)
        files += [prefix + f for f in fnames]
    return sorted(files), sorted(dirs)


def _remove_tree(path: Path) -> None:
    """Delete a tree edgetrain wrote, its top-level manifest last, so that a tree interrupted half
    way through deletion is still recognisable as edgetrain's. Missing entries are fine."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        _unlink(path)
        return
    for here, dnames, fnames in os.walk(path, topdown=False, followlinks=False):
        base = Path(here)
        for f in fnames:
            if base == path and f == MANIFEST:
                continue
            try:
                _unlink(base / f)
            except FileNotFoundError:
                pass
        for d in dnames:
            p = base / d
            try:
                _unlink(p) if p.is_symlink() else _rmdir(p)
            except FileNotFoundError:
                pass
    try:
        _unlink(path / MANIFEST)
    except FileNotFoundError:
        pass
    try:
        _rmdir(path)
    except FileNotFoundError:
        pass


def _wrap_os_error(target: Path, e: OSError) -> ExportError:
    return ExportError(
        f"cannot write {target}: {e.strerror or e}",
        hint="check that the directory is writable and the disk is not full",
    )


# ---------------------------------------------------------------- manifests


@dataclass
class _Manifest:
    files: dict[str, set[str]]  # path -> the contents (sha256) edgetrain may have left there
    dirs: set[str]
    state: str


def _read_manifest(root: Path) -> _Manifest | None:
    """The manifest of ``root`` if it is a regular file edgetrain wrote; None otherwise."""
    path = root / MANIFEST
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("tool") != TOOL:
        return None
    files: dict[str, set[str]] = {}
    for key in ("files", "pending"):
        entries = doc.get(key, {})
        if not isinstance(entries, dict):
            return None
        for rel, digest in entries.items():
            if not _valid_rel(rel) or not isinstance(digest, str) or rel == MANIFEST:
                return None
            files.setdefault(rel, set()).add(digest)
    dirs = doc.get("dirs", [])
    if not isinstance(dirs, list) or not all(_valid_rel(d) for d in dirs):
        return None
    return _Manifest(files, set(dirs), str(doc.get("state", "")))


def _manifest_doc(
    files: Mapping[str, str], dirs: Iterable[str], state: str = "complete", pending: Mapping[str, str] | None = None
) -> bytes:
    from .version import __version__

    doc: dict[str, Any] = {
        "tool": TOOL,
        "version": __version__,
        "state": state,
        "files": dict(sorted(files.items())),
        "dirs": sorted(set(dirs)),
    }
    if pending:
        doc["pending"] = dict(sorted(pending.items()))
    return (json.dumps(doc, indent=1) + "\n").encode()


@dataclass
class _State:
    """What is at the target now: ``kind`` absent | empty | ours | foreign."""

    kind: str
    ours: dict[str, str] = field(default_factory=dict)  # file -> its (recognised) current sha256
    our_dirs: set[str] = field(default_factory=set)
    foreign: list[str] = field(default_factory=list)  # entries edgetrain did not write (or changed)


def _inspect(target: Path) -> _State:
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return _State("absent")
    if not stat.S_ISDIR(st.st_mode):
        raise ExportError(
            f"output {target} exists and is not a directory", hint="remove it or choose another output directory"
        )
    files, dirs = _walk(target)
    if not files and not dirs:
        return _State("empty")
    manifest = _read_manifest(target)
    state = _State("ours")
    listed = manifest.files if manifest is not None else {}
    for rel in files:
        if (rel == MANIFEST and manifest is not None) or _MANIFEST_TMP.match(rel):
            continue  # the manifest, or a half-written one (recover removes it)
        p = target / rel
        if rel in listed and stat.S_ISREG(os.lstat(p).st_mode):
            digest = _sha256(p)
            if digest in listed[rel]:
                state.ours[rel] = digest
                continue
            state.foreign.append(f"{rel} (changed since edgetrain wrote it)")
            continue
        state.foreign.append(rel)
    needed = {str(Path(rel).parent.as_posix()) for rel in state.ours}
    needed = {a for rel in needed for a in _ancestors(rel)}
    for rel in dirs:
        if rel in needed or (manifest is not None and rel in manifest.dirs):
            state.our_dirs.add(rel)
        elif not any(f.startswith(rel + "/") for f in files):
            state.foreign.append(rel + "/")
    if state.foreign:
        state.kind = "foreign"
    return state


def _ancestors(rel: str) -> list[str]:
    """'a/b/c' -> ['a', 'a/b', 'a/b/c']; '.' -> []."""
    if rel in ("", "."):
        return []
    parts = rel.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


# ---------------------------------------------------------------- checks


def _real(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def _is_within(path: Path, root: Path) -> bool:
    try:
        return os.path.commonpath([str(path), str(root)]) == str(root)
    except ValueError:  # different drives
        return False


def _refuse_special(target: Path, given: str | os.PathLike[str], protect: Iterable[str | os.PathLike[str]]) -> None:
    """Directories edgetrain never replaces nor writes into, force or not."""
    try:
        cwd: Path | None = _real(os.getcwd())
    except OSError:  # the current directory was removed: nothing of it to protect
        cwd = None
    home = _real(os.path.expanduser("~"))
    if target == Path(target.anchor):
        raise ConfigError(
            f"refusing to write output into the file-system root ({given})",
            hint="choose a new subdirectory, e.g. -o out/model",
        )
    if target == home:
        raise ConfigError(
            f"refusing to write output into your home directory ({given})",
            hint="choose a new subdirectory, e.g. -o out/model",
        )
    if cwd is not None and _is_within(cwd, target):
        what = "the current directory" if target == cwd else "a parent of the current directory"
        raise ConfigError(
            f"refusing to write output into {what} ({given})", hint="choose a new subdirectory, e.g. -o out/model"
        )
    for p in protect:
        if _is_within(_real(p), target):
            raise ConfigError(
                f"refusing to write output into {given}: it holds the input {p}",
                hint="choose an output directory that does not contain the command's inputs",
            )


def check_output_dir(
    target: str | os.PathLike[str],
    *,
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    hint: str = FORCE_HINT,
) -> None:
    """Raise the error `output_directory` would raise for ``target`` now, writing nothing: for
    callers that do expensive work before they write (the write checks again)."""
    real = _real(target)
    _refuse_special(real, target, list(protect))
    _refuse_foreign(_inspect(real), target, force, hint)


def _refuse_foreign(state: _State, given: str | os.PathLike[str], force: bool, hint: str = FORCE_HINT) -> None:
    if state.kind == "foreign" and not force:
        raise ConfigError(
            f"output directory {given} holds files edgetrain did not write: {_listing(state.foreign)}", hint=hint
        )


def _listing(entries: list[str], n: int = 4) -> str:
    shown = ", ".join(entries[:n])
    return shown + (f" and {len(entries) - n} more" if len(entries) > n else "")


# ---------------------------------------------------------------- leftovers and recovery


def _leftovers(target: Path, kind: str) -> list[Path]:
    pattern = re.compile(re.escape(f".{target.name}.{kind}-") + _SUFFIX + "$")
    try:
        names = os.listdir(target.parent)
    except FileNotFoundError:
        return []
    return [target.parent / n for n in sorted(names) if pattern.match(n)]


def _is_our_tree(path: Path) -> bool:
    """A leftover directory edgetrain made: empty, or holding a manifest at its top."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return False
        return not os.listdir(path) or (path / MANIFEST).is_file()
    except OSError:
        return False


def _complete(path: Path) -> bool:
    """The tree holds exactly what its (complete) manifest lists, with the recorded contents."""
    manifest = _read_manifest(path)
    if manifest is None or manifest.state != "complete":
        return False
    files, _ = _walk(path)
    if set(files) - {MANIFEST} != set(manifest.files):
        return False
    return all(_sha256(path / rel) in digests for rel, digests in manifest.files.items())


def recover(target: str | os.PathLike[str]) -> None:
    """Finish what an interrupted write to ``target`` left: restore the old output if the path is
    empty-handed and a complete ``.NAME.old-*`` exists, then remove edgetrain's leftovers
    (``.NAME.tmp-*``, ``.NAME.old-*``, a half-written manifest) that no running writer holds.

    Every write to ``target`` calls this first."""
    target = _real(target)
    if not os.path.lexists(target):
        olds = [p for p in _leftovers(target, "old") if _is_our_tree(p) and _complete(p)]
        if olds:
            newest = max(olds, key=lambda p: os.lstat(p).st_mtime_ns)
            _rename(newest, target)
            _fsync_path(target.parent)
    for kind in ("tmp", "old"):
        for p in _leftovers(target, kind):
            _remove_leftover(p)
    if os.path.isdir(target) and not os.path.islink(target):
        for p in _leftovers(target / MANIFEST, "tmp"):
            _remove_leftover(p)


def _remove_leftover(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not _is_our_tree(path):
            return
    elif not stat.S_ISREG(st.st_mode):
        return
    try:
        fd = _lock(path, blocking=False)
    except FileNotFoundError:
        return
    if fd is None:
        return  # a running writer holds it
    try:
        _remove_tree(path)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- directories


def _finalize(stage: Path, umask: int) -> tuple[dict[str, str], list[str]]:
    """Modes, fsync of every file and directory, and the complete manifest of ``stage``."""
    files, dirs = _walk(stage)
    digests: dict[str, str] = {}
    for rel in files:
        if rel == MANIFEST:
            continue
        p = stage / rel
        if not stat.S_ISREG(os.lstat(p).st_mode):
            raise ExportError(f"internal error: the output holds {rel}, which is not a regular file")
        _chmod(p, 0o666 & ~umask)
        _fsync_path(p)
        digests[rel] = _sha256(p)
    # Written beside the staging marker and renamed over it: the tree keeps a manifest throughout,
    # so a leftover of an interrupted write is always recognisable (see _is_our_tree).
    man, part = stage / MANIFEST, stage / f".{MANIFEST}.tmp-complete"
    if os.path.lexists(part):
        _unlink(part)
    _write_new(part, _manifest_doc(digests, dirs))
    _chmod(part, 0o666 & ~umask)
    _fsync_path(part)
    _rename(part, man)
    for rel in sorted(dirs, key=lambda d: -d.count("/")):
        _chmod(stage / rel, 0o777 & ~umask)
        _fsync_path(stage / rel)
    _chmod(stage, 0o777 & ~umask)
    _fsync_path(stage)
    return digests, dirs


def _make_parents(path: Path) -> None:
    """mkdir -p with durable entries (fsync of each parent that gained a directory)."""
    missing = []
    p = path
    while not os.path.lexists(p):
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            _mkdir(d)
        except FileExistsError:
            pass
        _fsync_path(d.parent)
    if not path.is_dir():
        raise ExportError(f"cannot create {path}: a parent is not a directory")


@contextmanager
def output_directory(
    target: str | os.PathLike[str],
    *,
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    hint: str = FORCE_HINT,
) -> Iterator[Path]:
    """Yield an empty staging directory; when the block succeeds, its content becomes ``target``.

    ``target`` is replaced atomically if it is new, empty or an unmodified earlier edgetrain
    output; written into (``force``: never overwriting nor deleting a file edgetrain did not
    write) if it holds other files; refused otherwise (with ``hint``), and always for the root,
    home and current directories (and their parents) and directories holding a ``protect`` path. On any error the
    staging directory is removed and ``target`` is left as it was. See the module docstring.
    """
    given = target
    protect = list(protect)
    real = _real(given)
    _refuse_special(real, given, protect)
    umask = current_umask()
    stage: Path | None = None
    lock: int | None = None
    try:
        _make_parents(real.parent)
        recover(real)
        _refuse_foreign(_inspect(real), given, force, hint)  # before the caller does any work
        stage = _mkdtemp(real.parent, f".{real.name}.tmp-")
        lock = _lock(stage, blocking=True)
        _write_new(stage / MANIFEST, _manifest_doc({}, [], state="staging"))
        yield stage
        digests, dirs = _finalize(stage, umask)
        state = _inspect(real)  # again: the directory may have changed while the output was built
        _refuse_special(real, given, protect)
        _refuse_foreign(state, given, force, hint)
        if state.kind == "foreign":
            _merge(stage, real, digests, dirs, state, umask)
            _discard(stage)  # what is left of it: empty directories and the staging marker
        else:
            _replace(stage, real, state.kind != "absent")
    except OSError as e:
        _discard(stage)
        raise _wrap_os_error(real, e) from None
    except BaseException:
        _discard(stage)
        raise
    finally:
        if lock is not None:
            os.close(lock)


def _discard(stage: Path | None) -> None:
    """Best-effort removal of a staging tree (a leftover is removed by the next write anyway)."""
    if stage is not None:
        try:
            _remove_tree(stage)
        except OSError:
            pass


def _replace(stage: Path, target: Path, exists: bool) -> None:
    parent = target.parent
    if not exists:
        _rename(stage, target)
        _fsync_path(parent)
        return
    try:
        _exchange(stage, target)
    except _Unsupported:
        # Rename the old tree aside, then the new one in; a crash in between is repaired by recover().
        old = _mkdtemp(parent, f".{target.name}.old-")
        _rename(target, old)  # over the empty placeholder: atomic on POSIX
        _fsync_path(parent)
        try:
            _rename(stage, target)
        except OSError:
            _rename(old, target)  # put the previous output back before reporting the error
            raise
        _fsync_path(parent)
        _discard(old)
    else:
        _fsync_path(parent)
        _discard(stage)  # now the old tree
    _fsync_path(parent)


def _merge(stage: Path, target: Path, digests: dict[str, str], dirs: list[str], state: _State, umask: int) -> None:
    """Move the staged files into ``target`` one by one, next to files edgetrain did not write."""
    clashes = []
    for rel in digests:
        for a in _ancestors(rel)[:-1]:
            p = target / a
            if os.path.lexists(p) and (p.is_symlink() or not p.is_dir()):
                clashes.append(a)
        p = target / rel
        if os.path.lexists(p) and (rel not in state.ours or p.is_symlink() or p.is_dir()):
            clashes.append(rel)
    if (target / MANIFEST).is_dir() or (os.path.lexists(target / MANIFEST) and _read_manifest(target) is None):
        clashes.append(MANIFEST)
    if clashes:
        raise ConfigError(
            f"refusing to overwrite {_listing(sorted(set(clashes)))} in {target}: edgetrain did "
            "not write it (or it changed since)",
            hint="move those files away or choose another output directory",
        )
    new_dirs = [d for d in dirs if not os.path.lexists(target / d)]
    known_dirs = state.our_dirs | set(new_dirs)
    # Before anything moves, the manifest lists the old and the new contents of every file.
    _write_file_atomic(target / MANIFEST, _manifest_doc(state.ours, known_dirs, "merging", pending=digests), umask)
    for d in sorted(new_dirs, key=lambda d: d.count("/")):
        try:
            _mkdir(target / d)
        except FileExistsError:
            pass
        _chmod(target / d, 0o777 & ~umask)
        _fsync_path((target / d).parent)
    touched = {target}
    for rel in sorted(digests):
        dst = target / rel
        if rel in state.ours:
            _rename(stage / rel, dst)
        else:
            try:
                _rename_noreplace(stage / rel, dst)
            except _Unsupported:
                if os.path.lexists(dst):
                    raise FileExistsError(errno.EEXIST, "appeared while writing", str(dst)) from None
                _rename(stage / rel, dst)
        touched.add(dst.parent)
    for rel, digest in state.ours.items():
        p = target / rel
        if rel not in digests and os.path.lexists(p) and _sha256(p) == digest:
            _unlink(p)
            touched.add(p.parent)
    needed = {a for rel in digests for a in _ancestors(Path(rel).parent.as_posix())}
    for d in sorted(known_dirs - needed, key=lambda d: -d.count("/")):
        try:
            _rmdir(target / d)
            touched.add((target / d).parent)
        except OSError:
            pass  # not empty (someone else's files) or gone
    for touched_dir in sorted(touched, key=lambda p: -len(p.parts)):
        if touched_dir.is_dir():
            _fsync_path(touched_dir)
    kept = {d for d in known_dirs if (target / d).is_dir()}
    _write_file_atomic(target / MANIFEST, _manifest_doc(digests, kept, "complete"), umask)


def write_directory(
    target: str | os.PathLike[str],
    files: Mapping[Path, bytes] | Mapping[str, bytes] | Mapping[Path | str, bytes],
    *,
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write ``files`` (relative path -> bytes) as the directory ``target`` (see `output_directory`)."""
    checked: list[tuple[str, bytes]] = []
    for rel, data in files.items():
        key = Path(rel).as_posix()
        if not _valid_rel(key) or key == MANIFEST:
            raise ExportError(f"internal error: output file name {str(rel)!r} is not a plain relative path")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"{key}: file content must be bytes, not {type(data).__name__}")
        checked.append((key, bytes(data)))
    with output_directory(target, force=force, protect=protect) as stage:
        made: set[str] = set()
        for key, data in checked:
            for a in _ancestors(Path(key).parent.as_posix()):
                if a not in made:
                    _mkdir(stage / a)
                    made.add(a)
            _write_new(stage / key, data)
    return _real(target)


# ---------------------------------------------------------------- single files

Writer = Callable[[IO[bytes]], None]


def _write_file_atomic(path: Path, data: bytes | Writer, umask: int) -> None:
    parent = path.parent
    for p in _leftovers(path, "tmp"):
        _remove_leftover(p)
    fd, tmp = _mkstemp(parent, f".{path.name}.tmp-")
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.fchmod(fd, 0o666 & ~umask) if hasattr(os, "fchmod") else _chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb", closefd=False) as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
        _fsync_fd(fd)
        _rename(tmp, path)
    except BaseException:
        try:
            _unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    finally:
        os.close(fd)
    _fsync_path(parent)


def write_file(path: str | os.PathLike[str], data: bytes | Writer) -> Path:
    """Write one file atomically: ``data`` (bytes, or a function writing to a binary file object)
    goes to a temporary file beside ``path``, is fsynced and renamed over it, and the directory is
    fsynced. A symlink at ``path`` is written through; a directory there is refused (ConfigError).
    The file gets ``0o666 & ~umask``. On any error ``path`` is left as it was."""
    real = _real(path)
    if real.is_dir():
        raise ConfigError(f"{path} is a directory, not a file", hint="give a file path, e.g. out/model.etm")
    umask = current_umask()
    try:
        _make_parents(real.parent)
        _write_file_atomic(real, data, umask)
    except OSError as e:
        raise _wrap_os_error(real, e) from None
    return real


#: The key marking an .npz of arrays edgetrain wrote (`write_arrays`): only such a file is replaced.
ARRAYS_MARKER = "edgetrain_arrays"


def write_arrays(path: str | os.PathLike[str], arrays: Mapping[str, Any], kind: str) -> Path:
    """Write ``arrays`` as an .npz at ``path``, atomically, marked as edgetrain's (``kind`` says what
    they are). An existing file is replaced only when edgetrain wrote it (an .npz with the marker);
    anything else is refused with a ConfigError, and left as it was."""
    import io

    import numpy as np

    target = Path(path)
    if target.exists() and not target.is_dir():
        try:
            with np.load(target, allow_pickle=False) as old:
                ours = ARRAYS_MARKER in old.files
        except Exception:  # noqa: BLE001 - not an .npz at all
            ours = False
        if not ours:
            raise ConfigError(
                f"{path} exists and is not an array file edgetrain wrote; refusing to overwrite it",
                hint="choose another file name",
            )
    buf = io.BytesIO()
    members: dict[str, Any] = {ARRAYS_MARKER: np.array(kind), **{k: np.asarray(v) for k, v in arrays.items()}}
    np.savez(buf, **members)
    return write_file(target, buf.getvalue())


__all__ = [
    "ARRAYS_MARKER",
    "FORCE_HINT",
    "FS_PRIMITIVES",
    "MANIFEST",
    "check_output_dir",
    "current_umask",
    "output_directory",
    "recover",
    "safe_file_stem",
    "write_arrays",
    "write_directory",
    "write_file",
]
