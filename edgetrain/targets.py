"""Board descriptions: ``targets/<name>.toml`` read into :class:`Target`.

Targets are data, not code: adding a board is adding a TOML file plus, for a
microcontroller, a linker script. Every path in a TOML is relative to the TOML's folder. A name is
looked up in ./targets/ (the user's boards) before edgetrain's own; a path to a TOML works too.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgetrain.errors import ConfigError
from edgetrain.resources import targets_dir

_EMULATOR_KINDS = ("qemu",)
_COUNTER_KINDS = ("stm32-tim",)
#: Ports of the on-device weight store (et_storage.h): RAM (emulators, tests) or the STM32F2/F4
#: internal flash (et_storage_stm32f4.c; the F2 and F4 share the FLASH interface, the F7 does not).
STORAGE_PORTS = ("ram", "stm32f4-flash")
_TABLE_KEYS = {
    "memory": {"flash_bytes", "ram_bytes", "stack_bytes"},
    "link": {"script", "startup"},
    "emulator": {"kind", "machine", "extra_args"},
    "instruction_counter": {"kind", "base", "bits", "rcc_enable_register", "rcc_enable_mask"},
    "storage": {"port"},
}
_TOP_KEYS = {
    "description",
    "cpu",
    "fpu",
    "compiler",
    "cflags",
    "ldflags",
    "memory",
    "link",
    "emulator",
    "instruction_counter",
    "storage",
}


@dataclass(frozen=True)
class Emulator:
    """How to emulate the board. Only QEMU so far."""

    kind: str
    machine: str
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class InstructionCounter:
    """A hardware timer the harness reads around each inference (see et_counter.h)."""

    kind: str
    base: int
    bits: int
    rcc_enable_register: int | None = None
    rcc_enable_mask: int = 0


@dataclass(frozen=True)
class Target:
    """One board. ``flash_bytes``/``ram_bytes`` are None for the host (no budget)."""

    name: str
    description: str
    cpu: str
    fpu: str
    compiler: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    flash_bytes: int | None
    ram_bytes: int | None
    stack_bytes: int
    linker_script: Path | None
    startup: Path | None
    emulator: Emulator | None
    counter: InstructionCounter | None
    source: Path = field(compare=False)
    storage_port: str = "ram"  # the weight store's port on the board ([storage] port)

    @property
    def is_host(self) -> bool:
        """True for a native build that runs directly on the build machine."""
        return self.linker_script is None

    @property
    def has_fpu(self) -> bool:
        """True when the board's CPU has a floating-point unit (``fpu`` is set and not "none")."""
        return self.fpu not in ("none", "")

    @property
    def counts_instructions(self) -> bool:
        """True when a run reports instruction counts: a timer under an emulator's icount.

        On real silicon the same timer would count clock cycles, so a board without an
        emulator does not claim instruction counts.
        """
        return self.counter is not None and self.emulator is not None


def target_dirs() -> list[Path]:
    """Where target names are looked up, first match wins: a ``targets/`` folder in the working
    directory (the user's boards), then edgetrain's own."""
    local = Path.cwd() / "targets"
    dirs = [local] if local.is_dir() and local.resolve() != targets_dir().resolve() else []
    return [*dirs, targets_dir()]


def list_targets() -> list[str]:
    """Names of all known targets (the user's and edgetrain's), sorted."""
    return sorted({p.stem for d in target_dirs() for p in d.glob("*.toml")})


def load_target(name: str) -> Target:
    """A target by name (``./targets/<name>.toml``, then edgetrain's ``targets/<name>.toml``) or by
    the path of a board TOML (a name ending in .toml or holding a /); unknown names raise
    ConfigError listing the known ones."""
    if name.endswith(".toml") or "/" in name or "\\" in name:
        path = Path(name)
        if not path.is_file():
            raise ConfigError(
                f"target file {name} does not exist",
                hint="give the path of a board TOML, or a name from `edgetrain targets`",
            )
        return load_target_file(path)
    for d in target_dirs():
        if (d / f"{name}.toml").is_file():
            return load_target_file(d / f"{name}.toml")
    raise ConfigError(
        f"unknown target {name!r}; known targets: {', '.join(list_targets())}",
        hint="run `edgetrain targets` to list them, add targets/<name>.toml in this directory, or pass the path "
        "of a board TOML",
    )


def with_budget(target: Target, flash_bytes: int | None = None, ram_bytes: int | None = None) -> Target:
    """``target`` with its flash and/or RAM budget replaced (``--flash`` / ``--ram``)."""
    if flash_bytes is None and ram_bytes is None:
        return target
    if target.is_host:
        raise ConfigError(
            f"target {target.name!r} has no memory budget to change",
            hint="--flash and --ram apply to microcontroller targets",
        )
    ram = target.ram_bytes if ram_bytes is None else ram_bytes
    if ram is not None and target.stack_bytes >= ram:
        raise ConfigError(
            f"--ram {ram} leaves no RAM beside the {target.stack_bytes}-byte stack of {target.name}",
            hint="give a larger RAM size",
        )
    return replace(target, flash_bytes=target.flash_bytes if flash_bytes is None else flash_bytes, ram_bytes=ram)


def load_all_targets() -> list[Target]:
    """Every known target, sorted by name (for `edgetrain targets`)."""
    return [load_target(name) for name in list_targets()]


def load_target_file(path: Path) -> Target:
    """Read and validate one target description; relative paths resolve against its folder."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read target file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"target file {path} is not valid TOML: {exc}") from exc
    return _parse(path.stem, raw, path)


def _parse(name: str, raw: dict[str, Any], path: Path) -> Target:
    where = f"target {name!r} ({path})"
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")

    def text(table: dict[str, Any], key: str, ctx: str = "") -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: {ctx}{key} must be a non-empty string")
        return value

    def flags(key: str) -> tuple[str, ...]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key} must be a list of strings")
        return tuple(value)

    def integer(table: dict[str, Any], key: str, ctx: str, minimum: int = 0) -> int:
        value = table.get(key)
        # bool is an int subclass; `true` is never a size.
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ConfigError(f"{where}: {ctx}{key} must be an integer >= {minimum}")
        return value

    def table(key: str) -> dict[str, Any] | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: [{key}] must be a table")
        # A misspelt optional key would otherwise be ignored without a word.
        unknown_keys = set(value) - _TABLE_KEYS[key]
        if unknown_keys:
            raise ConfigError(f"{where}: unknown key(s) in [{key}]: {', '.join(sorted(unknown_keys))}")
        return value

    base_dir = path.parent

    def existing(rel: str, ctx: str) -> Path:
        resolved = (base_dir / rel).resolve()
        if not resolved.is_file():
            raise ConfigError(f"{where}: {ctx} {rel} does not exist")
        return resolved

    memory = table("memory")
    link = table("link")
    if (memory is None) != (link is None):
        raise ConfigError(f"{where}: a microcontroller target needs both [memory] and [link]")
    if memory is not None:
        flash: int | None = integer(memory, "flash_bytes", "memory.", 1)
        ram: int | None = integer(memory, "ram_bytes", "memory.", 1)
        stack = integer(memory, "stack_bytes", "memory.", 0)
        assert ram is not None
        if stack >= ram:
            raise ConfigError(f"{where}: memory.stack_bytes ({stack}) leaves no RAM")
    else:
        flash, ram, stack = None, None, 0
    if link is not None:
        script: Path | None = existing(text(link, "script", "link."), "linker script")
        startup: Path | None = existing(text(link, "startup", "link."), "startup file")
    else:
        script = startup = None

    emulator = None
    emu = table("emulator")
    if emu is not None:
        kind = text(emu, "kind", "emulator.")
        if kind not in _EMULATOR_KINDS:
            raise ConfigError(f"{where}: emulator.kind {kind!r} is not one of {_EMULATOR_KINDS}")
        extra = emu.get("extra_args", [])
        if not isinstance(extra, list) or not all(isinstance(v, str) for v in extra):
            raise ConfigError(f"{where}: emulator.extra_args must be a list of strings")
        if script is None:
            raise ConfigError(f"{where}: an emulated target needs a [link] table")
        emulator = Emulator(kind, text(emu, "machine", "emulator."), tuple(extra))

    counter = None
    cnt = table("instruction_counter")
    if cnt is not None:
        kind = text(cnt, "kind", "instruction_counter.")
        if kind not in _COUNTER_KINDS:
            raise ConfigError(f"{where}: instruction_counter.kind {kind!r} is not one of {_COUNTER_KINDS}")
        bits = integer(cnt, "bits", "instruction_counter.", 1)
        if bits not in (16, 32):
            raise ConfigError(f"{where}: instruction_counter.bits must be 16 or 32")
        rcc = cnt.get("rcc_enable_register")
        if rcc is not None:
            rcc = integer(cnt, "rcc_enable_register", "instruction_counter.")
        counter = InstructionCounter(
            kind=kind,
            base=integer(cnt, "base", "instruction_counter."),
            bits=bits,
            rcc_enable_register=rcc,
            rcc_enable_mask=integer(cnt, "rcc_enable_mask", "instruction_counter.") if rcc is not None else 0,
        )

    storage = table("storage")
    port = "ram"
    if storage is not None:
        port = text(storage, "port", "storage.")
        if port not in STORAGE_PORTS:
            raise ConfigError(f"{where}: storage.port {port!r} is not one of {STORAGE_PORTS}")
        if port != "ram" and script is None:
            raise ConfigError(f"{where}: storage.port {port!r} needs a microcontroller target ([link])")

    return Target(
        name=name,
        description=text(raw, "description"),
        cpu=text(raw, "cpu"),
        fpu=text(raw, "fpu"),
        compiler=text(raw, "compiler"),
        cflags=flags("cflags"),
        ldflags=flags("ldflags"),
        flash_bytes=flash,
        ram_bytes=ram,
        stack_bytes=stack,
        linker_script=script,
        startup=startup,
        emulator=emulator,
        counter=counter,
        source=path,
        storage_port=port,
    )
