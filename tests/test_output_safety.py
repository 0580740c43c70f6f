"""Output paths never cost a user file: refusals, --force, atomic replacement, modes, kill injection.

The kill-injection tests fork a writer that SIGKILLs itself just before its K-th file-system
operation (every change `edgetrain.outputs` makes goes through one of `FS_PRIMITIVES`), for K = 0,
1, 2... until a writer finishes unharmed. After every kill the output path must hold the complete
old or the complete new output, no user file may be gone, and the next write must succeed and
leave no leftovers.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import stat
import sys
from pathlib import Path

import pytest

import edgetrain as et
from edgetrain import outputs
from edgetrain.cli import main
from edgetrain.errors import ConfigError, EdgetrainError, ExportError
from edgetrain.export.c import export_c
from edgetrain.outputs import MANIFEST, recover, write_directory, write_file

from helpers import assert_user_error, run_cli

KILL_CASES: dict[str, int] = {}  # scenario -> number of kill points exercised (printed at the end)


@pytest.fixture
def model(tmp_path):
    g = et.Sequential([et.Dense(8, "relu"), et.Dense(3)], 64, seed=0, name="safe")
    return et.save_model(g, tmp_path / "m.etm")


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes), without edgetrain's manifest."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def cli(*args, expect=0):
    """Run the CLI in-process; returns the exit status (0 when main returns)."""
    try:
        main([str(a) for a in args])
    except SystemExit as e:
        assert e.code == expect, e.code
        return e.code
    assert expect == 0
    return 0


# ---------------------------------------------------------------- refusals

def test_export_c_into_a_user_project_is_refused_and_the_project_survives(model, tmp_path, capsys):
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    cli("export", "c", model, "-t", "host", "--dtype", "f32", "-o", proj, expect=2)
    err = capsys.readouterr().err
    assert "error: output directory" in err and "did not write" in err and "src/main.c" in err
    assert "hint: " in err and "--force" in err
    assert tree(proj) == {"src/main.c": b"int main(void) { return 0; }\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.etm", "proj"]  # no staging left behind


def test_export_onnx_into_a_user_directory_is_refused(model, tmp_path):
    d = tmp_path / "notes"
    d.mkdir()
    (d / "todo.txt").write_text("keep me")
    r = run_cli("export", "onnx", model, "-o", d)
    assert_user_error(r, "did not write", "todo.txt")
    assert (d / "todo.txt").read_text() == "keep me" and sorted(os.listdir(d)) == ["todo.txt"]


@pytest.mark.parametrize("force", [False, True])
def test_cwd_its_parents_the_inputs_directory_and_home_are_never_written(model, tmp_path, monkeypatch, force,
                                                                       tmp_path_factory):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "sub" / "mine.txt").write_text("mine")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".profile").write_text("p")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work / "sub")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    extra = ["--force"] if force else []
    for target, needle in [(".", "current directory"), ("..", "parent of the current directory"),
                           (str(tmp_path), "parent of the current directory"), (str(home), "home directory"),
                           ("/", "root")]:
        for kind in ("c", "onnx"):
            with pytest.raises(ConfigError, match=needle):
                _export(kind, model, target, force)
    # The directory holding the input model: refused even when it is not the cwd.
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    with pytest.raises(ConfigError, match="holds the input"):
        export_c(et.load_model(model), "host", tmp_path, force=force, protect=[model], dtype="f32")
    r = run_cli("export", "c", model, "-t", "host", "--dtype", "f32", "-o", tmp_path, *extra, cwd=elsewhere)
    assert_user_error(r, "holds the input")
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def _export(kind, model, target, force):
    graph = et.load_model(model)
    if kind == "c":
        export_c(graph, "host", target, force=force, protect=[model], dtype="f32")
    else:
        from edgetrain.interop.onnx import export_onnx
        export_onnx(graph, target, force=force, protect=[model])


def test_dot_is_refused_by_the_cli_with_exit_2(model, tmp_path):
    r = run_cli("export", "c", model.name, "-t", "host", "--dtype", "f32", "-o", ".", cwd=tmp_path)
    assert_user_error(r, "current directory")
    assert sorted(os.listdir(tmp_path)) == ["m.etm"] and et.load_model(model).name == "safe"


def test_a_file_at_the_output_path_is_refused(model, tmp_path):
    f = tmp_path / "out"
    f.write_text("a file")
    r = run_cli("export", "c", model, "-t", "host", "-o", f)  # click's own check of -o
    assert r.returncode == 2 and "is a file" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(ExportError, match="not a directory"):
        export_c(et.load_model(model), "host", f, dtype="f32")
    os.symlink(f, tmp_path / "link")
    with pytest.raises(ExportError, match="not a directory"):
        export_c(et.load_model(model), "host", tmp_path / "link", dtype="f32")
    assert f.read_text() == "a file"
    with pytest.raises(ConfigError, match="is a directory"):
        et.save_model(et.load_model(model), tmp_path)


# ---------------------------------------------------------------- --force and re-exports

def test_force_adds_files_beside_the_users_and_deletes_nothing_of_theirs(model, tmp_path, capsys):
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "main.c").write_text("user")
    cli("export", "c", model, "-t", "host", "--dtype", "f32", "-o", proj, "--force")
    doc = json.loads((proj / MANIFEST).read_text())
    assert doc["tool"] == "edgetrain" and "model.c" in doc["files"] and "src/main.c" not in doc["files"]
    assert (proj / "src" / "main.c").read_text() == "user" and (proj / "model.c").is_file()
    first = tree(proj)
    # Again with --force: edgetrain's files are replaced, the user's kept; stale ones of ours go.
    cli("export", "c", model, "-t", "host", "-o", proj, "--force", "--dtype", "int8", "--calib",
        "digits:train")
    assert (proj / "src" / "main.c").read_text() == "user"
    assert not (proj / "runtime/src/et_dense_f32.c").exists() and (proj / "runtime/src/et_dense_s8.c").exists()
    assert set(tree(proj)) != set(first)
    # A user file where edgetrain wants to write is refused even with --force.
    (proj / "CMakeLists.txt").write_text("user cmake")
    cli("export", "c", model, "-t", "host", "--dtype", "f32", "-o", proj, "--force", expect=2)
    assert "refusing to overwrite CMakeLists.txt" in capsys.readouterr().err
    assert (proj / "CMakeLists.txt").read_text() == "user cmake" and (proj / "src" / "main.c").read_text() == "user"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.etm", "proj"]


def test_reexport_replaces_an_earlier_export_but_not_an_edited_one(model, tmp_path, capsys):
    out = tmp_path / "onnx"
    cli("export", "onnx", model, "-o", out)
    cli("export", "onnx", model, "-o", out, "--train-step")
    assert {"model.onnx", "train_step.onnx", "train_step_state.npz"} <= set(tree(out))
    cli("export", "onnx", model, "-o", out)
    assert set(tree(out)) == {"model.onnx"}  # edgetrain's own stale files are removed
    (out / "model.onnx").write_bytes(b"edited by hand")
    cli("export", "onnx", model, "-o", out, expect=2)
    assert "changed since edgetrain wrote it" in capsys.readouterr().err
    assert (out / "model.onnx").read_bytes() == b"edited by hand"
    (out / "notes.txt").write_text("mine")
    cli("export", "onnx", model, "-o", out, "--force", expect=2)  # the edited file clashes: still refused
    assert (out / "model.onnx").read_bytes() == b"edited by hand" and (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_modes_follow_the_umask(model, tmp_path, mask):
    old = os.umask(mask)
    try:
        out = tmp_path / "c"
        export_c(et.load_model(model), "host", out, dtype="f32")
        etm = et.save_model(et.load_model(model), tmp_path / "copy.etm")
    finally:
        os.umask(old)
    for p in [out, *out.rglob("*"), etm]:
        want = (0o777 if p.is_dir() else 0o666) & ~mask
        assert stat.S_IMODE(p.stat().st_mode) == want, (p, oct(p.stat().st_mode))


def test_leftovers_are_cleaned_but_look_alikes_and_locked_ones_are_kept(tmp_path):
    out = tmp_path / "out"
    write_directory(out, {"a": b"1"})
    ours_tmp = tmp_path / ".out.tmp-abcd1234"
    ours_tmp.mkdir()
    (ours_tmp / MANIFEST).write_text('{"tool": "edgetrain", "state": "staging"}')
    (ours_tmp / "half").write_bytes(b"x")
    ours_old = tmp_path / ".out.old-efgh5678"
    ours_old.mkdir()  # an empty placeholder
    theirs = tmp_path / ".out.tmp-zzzz9999"
    theirs.mkdir()
    (theirs / "precious").write_text("not edgetrain's")
    busy = tmp_path / ".out.tmp-busy0000"
    busy.mkdir()
    (busy / MANIFEST).write_text('{"tool": "edgetrain", "state": "staging"}')
    fd = os.open(busy, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a running writer holds its staging directory
    try:
        write_directory(out, {"a": b"2"})
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.tmp-busy0000", ".out.tmp-zzzz9999", "out"]
    assert (theirs / "precious").read_text() == "not edgetrain's" and tree(out) == {"a": b"2"}
    write_directory(out, {"a": b"3"})  # no longer locked: cleaned now
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.tmp-zzzz9999", "out"]


def test_a_corrupt_or_foreign_manifest_is_not_trusted(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "user.txt").write_text("u")
    (out / MANIFEST).write_text(json.dumps({"tool": "edgetrain", "files": {"../../etc/passwd": "0" * 64}}))
    with pytest.raises(ConfigError, match="did not write"):
        write_directory(out, {"a": b"1"})
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        write_directory(out, {"a": b"1"}, force=True)  # it would overwrite the untrusted manifest
    assert (out / "user.txt").read_text() == "u"


# ---------------------------------------------------------------- kill injection

OLD = {"a.txt": b"old a", "gone.txt": b"only in the old output", "sub/b.bin": b"old b" * 100}
NEW = {"a.txt": b"new a", "sub/b.bin": b"new b" * 100, "sub/deep/c.txt": b"new c"}
NEXT = {"a.txt": b"next a", "z.txt": b"next z"}
USER = {"user.txt": b"the user's file", "src/main.c": b"int main(void) { return 0; }\n"}


def killed_at(k: int, action, *, exchange: bool = True) -> bool:
    """Run ``action`` in a forked child that SIGKILLs itself before its k-th file-system
    operation; True if it was killed, False if it finished (a failure is a test error)."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            count = [0]
            if not exchange:
                def unsupported(*args):  # the rename-aside path
                    raise outputs._Unsupported
                outputs._exchange = unsupported
                outputs._rename_noreplace = unsupported
            for name in outputs.FS_PRIMITIVES:
                real = getattr(outputs, name)

                def op(*args, _real=real, **kwargs):
                    if count[0] == k:
                        os.kill(os.getpid(), signal.SIGKILL)
                    count[0] += 1
                    return _real(*args, **kwargs)
                setattr(outputs, name, op)
            action()
        except BaseException:  # noqa: BLE001 - reported through the exit status
            import traceback
            traceback.print_exc()
            os._exit(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"the writer failed at k={k}"
    return False


def put_user_files(root: Path) -> None:
    for rel, data in USER.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def user_files_intact(root: Path) -> bool:
    return all((root / rel).read_bytes() == data for rel, data in USER.items())


def sweep(scenario: str, base: Path, setup, action, check, finish, *, exchange: bool = True) -> int:
    """Kill the writer before each operation in turn; ``check`` judges the state after a kill,
    ``finish`` runs the next (unkilled) write and judges the result. Returns the kills made."""
    k = 0
    while True:
        work = base / f"k{k}"
        work.mkdir()
        setup(work)
        sys.stdout.flush()
        sys.stderr.flush()
        if not killed_at(k, lambda: action(work), exchange=exchange):
            break
        check(work, k)
        finish(work, k)
        k += 1
    check(work, k)  # the unkilled write
    KILL_CASES[scenario] = k
    assert k > 10, f"{scenario}: only {k} operations: the instrumentation is not in the path"
    return k


def old_or_new(out: Path, k: int) -> str:
    got = tree(out) if out.is_dir() else None
    if got == OLD:
        return "old"
    if got == NEW:
        return "new"
    raise AssertionError(f"k={k}: {out} holds neither the old nor the new output: {got and sorted(got)}")


def finish_replace(work: Path, k: int) -> None:
    out = work / "out"
    write_directory(out, NEXT)
    assert tree(out) == NEXT
    assert sorted(p.name for p in work.iterdir()) == ["out", "src", "user.txt"], (k, os.listdir(work))
    assert user_files_intact(work)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "rename-aside"])
def test_killed_replacement_leaves_old_or_new_and_the_next_write_cleans_up(tmp_path, exchange):
    if exchange:
        probe = tmp_path / "probe"
        (probe / "a").mkdir(parents=True)
        (probe / "b").mkdir()
        try:
            outputs._exchange(probe / "a", probe / "b")
        except outputs._Unsupported:
            pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    seen: set[str] = set()
    missing: list[int] = []

    def setup(work):
        put_user_files(work)
        write_directory(work / "out", OLD)

    def check(work, k):
        out = work / "out"
        if not exchange and not out.exists():
            missing.append(k)  # the documented window of the rename-aside path...
            recover(out)  # ...which the next write repairs first
            assert tree(out) == OLD, k
        seen.add(old_or_new(out, k))
        assert user_files_intact(work), k

    sweep(f"replace ({'exchange' if exchange else 'rename aside'})", tmp_path,
          setup, lambda w: write_directory(w / "out", NEW), check, finish_replace, exchange=exchange)
    assert seen == {"old", "new"}
    assert bool(missing) == (not exchange)  # the exchange never leaves the path empty


def test_killed_first_write_leaves_nothing_or_the_new_output(tmp_path):
    def check(work, k):
        out = work / "out"
        assert not out.exists() or tree(out) == NEW, k
        assert user_files_intact(work)

    sweep("first write", tmp_path, put_user_files, lambda w: write_directory(w / "out", NEW), check,
          finish_replace)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "plain-rename"])
def test_killed_forced_write_into_a_user_directory_never_loses_their_files(tmp_path, exchange):
    def setup(work):
        proj = work / "proj"
        proj.mkdir()
        put_user_files(proj)
        write_directory(proj, OLD, force=True)

    def check(work, k):
        proj = work / "proj"
        assert user_files_intact(proj), k
        ours = {rel: data for rel, data in tree(proj).items()
                if rel not in USER and not rel.startswith(f".{MANIFEST}.tmp-")}
        for rel, data in ours.items():  # each of edgetrain's files is its old or its new version
            assert data in (OLD.get(rel), NEW.get(rel)), (k, rel)

    def finish(work, k):
        proj = work / "proj"
        write_directory(proj, NEXT, force=True)
        assert tree(proj) == {**USER, **NEXT}, k
        assert sorted(p.name for p in work.iterdir()) == ["proj"], (k, os.listdir(work))

    sweep(f"force into a user directory ({'renameat2' if exchange else 'plain rename'})", tmp_path, setup,
          lambda w: write_directory(w / "proj", NEW, force=True), check, finish, exchange=exchange)


def test_killed_model_save_leaves_old_or_new_file(tmp_path):
    def setup(work):
        put_user_files(work)
        write_file(work / "m.etm", b"old model")

    def check(work, k):
        assert (work / "m.etm").read_bytes() in (b"old model", b"new model"), k
        assert user_files_intact(work)

    def finish(work, k):
        write_file(work / "m.etm", b"next model")
        assert sorted(p.name for p in work.iterdir()) == ["m.etm", "src", "user.txt"], (k, os.listdir(work))

    k = 0
    while True:  # few operations: sweep's minimum does not apply
        work = tmp_path / f"k{k}"
        work.mkdir()
        setup(work)
        if not killed_at(k, lambda: write_file(work / "m.etm", b"new model")):
            break
        check(work, k)
        finish(work, k)
        k += 1
    assert (work / "m.etm").read_bytes() == b"new model" and k >= 3
    KILL_CASES["model file"] = k


def test_report_kill_cases(capsys):
    """Print how many kill points the sweeps above exercised (run with -s to see it)."""
    with capsys.disabled():
        if KILL_CASES:
            print(f"\nkill-injection cases: {sum(KILL_CASES.values())} {KILL_CASES}")


def test_errors_are_one_line_with_a_hint(tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "x").write_text("x")
    with pytest.raises(EdgetrainError) as e:
        write_directory(tmp_path / "proj", {"a": b""})
    assert "\n" not in e.value.message and e.value.hint
    with pytest.raises(ExportError, match="internal error"):
        write_directory(tmp_path / "new", {"../escape": b""})
    assert not (tmp_path / "escape").exists() and not (tmp_path / "new").exists()
