"""The format policy registry (FPR): per PRONOM id, which tools characterize, validate,
normalize, thumbnail and transcribe a file.

The rules are data: ``format_policies/default.toml`` ships with the library, and the files
named by ``PRESERVATION_FPR`` (``:``-separated) are merged over it, table by table and key
by key, so an operator can add a format or replace one command without touching code.
A format's rules are its category's, overridden by its own keys; an empty string turns a
step off for that format.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from preservation.core.errors import ConfigurationInvalid
from preservation.tools import batch_tools

PURPOSES = (
    "characterization",
    "validation",
    "preservation",
    "access",
    "thumbnail",
    "transcription",
)
#: Format keys naming a command, and the purpose the command must have.
STEP_KEYS = {
    "validate": "validation",
    "preservation": "preservation",
    "access": "access",
    "thumbnail": "thumbnail",
    "transcribe": "transcription",
}
#: The batch runners the library has, per purpose (ExifTool, MediaInfo, MediaConch).
#: purpose -> the batch runners a command of that purpose may name.
BATCHES = {
    purpose: {runner for runner, its in batch_tools.PURPOSES.items() if its == purpose}
    for purpose in set(batch_tools.PURPOSES.values())
}
#: Modules named by ``function = "module:callable"`` before the library was laid out by
#: role: an operator's override file written for an older release keeps working.
MOVED_MODULES = {"preservation.builtin_tools": "preservation.tools.builtin_tools"}
SECTIONS = {"tools", "commands", "categories", "formats", "fallback_by_extension"}
FORMAT_KEYS = {"name", "category", "characterize", "preservation_format", *STEP_KEYS}
COMMAND_KEYS = {
    "tool",
    "purpose",
    "argv",
    "function",
    "batch",
    "output",
    "extension",
    "fail_pattern",
    "inputs_per_call",
}
TOOL_KEYS = {
    "name",
    "executable",
    "version",
    "version_pattern",
    "debian_package",
    "python_distribution",
}


def _takes_many(table: dict) -> bool:
    """Whether a command can take many inputs at once: ``{input}`` one whole argument
    (it becomes all of them), nothing else per input in argv, and each output found in
    the working folder by its input's stem."""
    argv = table.get("argv") or []
    output = table.get("output", "")
    return (
        argv.count("{input}") == 1
        and sum("{input}" in a for a in argv) == 1
        and not any("{output}" in a or "{stem}" in a for a in argv)
        and output.startswith("{work_dir}/")
        and "{stem}" in output
    )


@dataclass(frozen=True)
class Tool:
    """A program or library the rules use; its name and version go into PREMIS events."""

    key: str
    name: str
    executable: str = ""
    version: tuple[str, ...] = ()
    version_pattern: str = ""
    debian_package: str = ""
    python_distribution: str | None = None


@dataclass(frozen=True)
class Command:
    """One way of using a tool for one purpose."""

    key: str
    tool: Tool
    purpose: str
    argv: tuple[str, ...] = ()
    function: str = ""
    batch: str = ""
    output: str = "{output}"
    extension: str = ""
    fail_pattern: str = ""
    #: Inputs one process may take at ``{input}`` (each makes ``{work_dir}/{stem}.<ext>``).
    inputs_per_call: int = 1


@dataclass(frozen=True)
class FormatRules:
    """Everything the registry says about one format."""

    puid: str
    name: str
    category: str
    characterize: tuple[Command, ...]
    validate: Command | None
    preservation: Command | None
    access: Command | None
    thumbnail: Command | None
    transcribe: Command | None
    preservation_format: bool


@dataclass(frozen=True)
class Registry:
    """The merged registry; ``rules(puid)`` answers for one format (None: no rule)."""

    tools: Mapping[str, Tool]
    commands: Mapping[str, Command]
    formats: Mapping[str, FormatRules]
    sources: tuple[str, ...]

    by_extension: Mapping[str, str] = None  # type: ignore[assignment]

    def rules(self, puid: str | None) -> FormatRules | None:
        return self.formats.get(puid or "")

    def rules_for(self, puid: str | None, path: str) -> FormatRules | None:
        """The rules for a file: by its PRONOM id, or, when Siegfried could not identify
        it (a truncated file often cannot be), by its extension (``[fallback_by_extension]``),
        so a damaged file is still validated and its failure recorded."""
        if puid and puid != "UNKNOWN":
            return self.rules(puid)
        extension = path.rpartition(".")[2].lower() if "." in path.rpartition("/")[2] else ""
        return self.rules(self.by_extension.get(extension))


def _merge(base: dict, extra: Mapping) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load(extra_files: tuple[str, ...] | None = None) -> Registry:
    """Load the shipped registry and merge the operator's files (``PRESERVATION_FPR``)."""
    if extra_files is None:
        extra_files = tuple(p for p in os.environ.get("PRESERVATION_FPR", "").split(":") if p)
    return _load(extra_files)


@lru_cache(maxsize=8)
def _load(extra_files: tuple[str, ...]) -> Registry:
    shipped = resources.files("preservation.tools") / "format_policies" / "default.toml"
    data = tomllib.loads(shipped.read_text(encoding="utf-8"))
    sources = ["format_policies/default.toml"]
    for name in extra_files:
        path = Path(name)
        try:
            data = _merge(data, tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationInvalid(
                f"PRESERVATION_FPR names {path}, which cannot be read as TOML: {exc}"
            ) from exc
        sources.append(str(path))
    return _build(data, tuple(sources))


def _build(data: dict, sources: tuple[str, ...]) -> Registry:
    problems: list[str] = [f"unknown section [{k}]" for k in sorted(data.keys() - SECTIONS)]

    def unknown(kind: str, key: str, table: Mapping, allowed: set[str]) -> None:
        problems.extend(
            f"{kind} {key!r}: unknown key {k!r}" for k in sorted(table.keys() - allowed)
        )

    tools = {}
    for key, table in data.get("tools", {}).items():
        unknown("tool", key, table, TOOL_KEYS)
        tools[key] = Tool(
            key=key,
            name=table.get("name", key),
            executable=table.get("executable", ""),
            version=tuple(table.get("version", ())),
            version_pattern=table.get("version_pattern", ""),
            debian_package=table.get("debian_package", ""),
            python_distribution=table.get("python_distribution"),
        )
    commands = {}
    for key, table in data.get("commands", {}).items():
        unknown("command", key, table, COMMAND_KEYS)
        tool = tools.get(table.get("tool", ""))
        if tool is None:
            problems.append(f"command {key!r}: names tool {table.get('tool')!r}, not in [tools]")
            continue
        if table.get("purpose") not in PURPOSES:
            problems.append(f"command {key!r}: purpose must be one of {', '.join(PURPOSES)}")
        ways = [w for w in ("argv", "function", "batch") if table.get(w)]
        if len(ways) != 1:
            problems.append(f"command {key!r}: give exactly one of argv, function or batch")
        if table.get("batch") and table["batch"] not in BATCHES.get(table.get("purpose"), ()):
            problems.append(
                f"command {key!r}: no batch runner {table['batch']!r} for {table.get('purpose')}"
            )
        if table.get("argv") and "{input}" not in table["argv"]:
            problems.append(f"command {key!r}: argv must contain {{input}}")
        per_call = table.get("inputs_per_call", 1)
        if not isinstance(per_call, int) or isinstance(per_call, bool) or per_call < 1:
            problems.append(f"command {key!r}: inputs_per_call must be a whole number, 1 or more")
        elif per_call > 1 and not _takes_many(table):
            # Outputs are told apart by their inputs' stems: the tool names them, we don't.
            problems.append(
                f"command {key!r}: inputs_per_call needs an argv with {{input}} once, as a "
                "whole argument, and no {output} or {stem}, and an output "
                '"{work_dir}/...{stem}..." (what the tool makes of each input)'
            )
        commands[key] = Command(
            key=key,
            tool=tool,
            purpose=table.get("purpose", ""),
            argv=tuple(table.get("argv", ())),
            function=_current(table.get("function", "")),
            batch=table.get("batch", ""),
            output=table.get("output", "{output}"),
            extension=table.get("extension", ""),
            fail_pattern=table.get("fail_pattern", ""),
            inputs_per_call=per_call if isinstance(per_call, int) and per_call > 0 else 1,
        )
    categories = data.get("categories", {})
    formats = {}
    for puid, table in data.get("formats", {}).items():
        unknown("format", puid, table, FORMAT_KEYS)
        category = table.get("category", "")
        if category and category not in categories:
            problems.append(f"format {puid!r}: category {category!r} is not in [categories]")
        rules = _merge(categories.get(category, {}), table)
        unknown("category", category, categories.get(category, {}), FORMAT_KEYS)

        def command(step: str, purpose: str, rules=rules, puid=puid) -> Command | None:
            name = rules.get(step, "")
            if not name:
                return None
            found = commands.get(name)
            if found is None:
                problems.append(f"format {puid!r}: {step} names command {name!r}, not defined")
            elif found.purpose != purpose:
                problems.append(
                    f"format {puid!r}: {step} names command {name!r}, whose purpose is "
                    f"{found.purpose!r}, not {purpose!r}"
                )
                return None
            return found

        characterizers = []
        for name in rules.get("characterize", []):
            if name in commands and commands[name].purpose == "characterization":
                characterizers.append(commands[name])
            else:
                problems.append(f"format {puid!r}: {name!r} is not a characterization command")
        formats[puid] = FormatRules(
            puid=puid,
            name=rules.get("name", puid),
            category=category,
            characterize=tuple(characterizers),
            validate=command("validate", "validation"),
            preservation=command("preservation", "preservation"),
            access=command("access", "access"),
            thumbnail=command("thumbnail", "thumbnail"),
            transcribe=command("transcribe", "transcription"),
            preservation_format=bool(rules.get("preservation_format", False)),
        )
    by_extension = {k.lower(): v for k, v in data.get("fallback_by_extension", {}).items()}
    problems += [
        f"fallback_by_extension {ext!r}: {puid!r} is not in [formats]"
        for ext, puid in sorted(by_extension.items())
        if puid not in formats
    ]
    if problems:
        raise ConfigurationInvalid(
            f"The format policy registry ({' + '.join(sources)}) is not valid", problems
        )
    return Registry(tools, commands, formats, sources, by_extension)


def _current(function: str) -> str:
    """``module:callable`` with a module's old name replaced by where it lives now."""
    module, colon, attribute = function.partition(":")
    return MOVED_MODULES.get(module, module) + colon + attribute
