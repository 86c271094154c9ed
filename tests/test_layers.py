"""The layer rules of docs/architecture.md ("Import rules"), checked on the syntax tree of every module.

Every `import` counts, wherever it sits: at the top, inside a function (a lazy import is still a dependency)
or under `if TYPE_CHECKING:` (a type-only import still ties one layer to another).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ("api", "bot", "core", "tasks", "providers", "storage")
# What the Procfile starts (web, worker, scheduler) and the `cheers` command.
ENTRY_POINTS = ("api.app", "api.cli", "tasks.broker", "tasks.periodic", "tasks.schedule")


@dataclass(frozen=True)
class Rule:
    """Modules under `layer` must not import `forbidden` (or below it), except what `allowed` names."""

    name: str
    layer: str
    forbidden: tuple[str, ...]
    allowed: tuple[str, ...] = ()


RULES = (
    *(Rule("production code never imports the sandbox twins", layer, ("sandbox",)) for layer in PRODUCTION),
    Rule(
        "providers never touch the database or the layers above (storage.enums is all they use of storage)",
        "providers",
        ("storage", "core", "api", "tasks", "bot"),
        allowed=("storage.enums",),
    ),
    Rule("storage is the bottom layer", "storage", ("core", "providers", "api", "tasks", "bot", "sandbox")),
    Rule("core never imports the front doors or the task wrappers", "core", ("api", "bot", "tasks")),
    Rule(
        "bot reaches data and providers only through core (core.vocabulary re-exports the enums)",
        "bot",
        ("storage", "providers"),
    ),
)

# The only imports that break a rule on purpose: (file, imported module or package) -> why.
ALLOWANCES = {
    ("api/devtwins.py", "sandbox"): (
        "`make dev` runs the twins beside the app; only `cheers dev` loads this module, lazily "
        "(test_processes_start_without_the_sandbox keeps it so)"
    ),
}


@dataclass(frozen=True)
class Import:
    file: str  # relative to the repository, e.g. "core/runtime.py"
    line: int
    module: str  # absolute dotted name of what was imported


def module_name(file: str) -> str:
    """`core/access/policy.py` -> `core.access.policy`; a package's `__init__.py` is the package."""
    parts = file.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(file: str, source: str) -> Iterator[Import]:
    """Every module `source` imports, with relative imports resolved (`from storage import models` names
    `storage.models`, since a package's attribute may be a submodule)."""
    package = module_name(file).split(".")
    if not file.endswith("__init__.py"):
        package = package[:-1]
    for node in ast.walk(ast.parse(source, filename=file)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(file, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            for alias in node.names:
                yield Import(file, node.lineno, origin if alias.name == "*" else f"{origin}.{alias.name}")


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def breaks(rule: Rule, imported: Import) -> bool:
    if not within(module_name(imported.file), rule.layer):
        return False
    hit = any(within(imported.module, f) for f in rule.forbidden)
    return hit and not any(within(imported.module, a) for a in rule.allowed)


def allowance_for(imported: Import) -> str | None:
    for (file, module), reason in ALLOWANCES.items():
        if imported.file == file and within(imported.module, module):
            return reason
    return None


def production_imports() -> list[Import]:
    found: list[Import] = []
    for layer in PRODUCTION:
        for path in sorted((ROOT / layer).rglob("*.py")):
            file = path.relative_to(ROOT).as_posix()
            found.extend(imports_in(file, path.read_text(encoding="utf-8")))
    return found


@pytest.fixture(scope="module")
def every_import() -> list[Import]:
    found = production_imports()
    assert len({i.file for i in found}) > 100, "the walk found too few modules to be looking at the code"
    return found


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.layer}: {r.name}")
def test_layer_rule_holds(rule: Rule, every_import: list[Import]) -> None:
    broken = [i for i in every_import if breaks(rule, i) and allowance_for(i) is None]
    assert not broken, "\n".join(f"{i.file}:{i.line} imports {i.module}: {rule.name}" for i in broken)


def test_every_allowance_is_still_needed(every_import: list[Import]) -> None:
    """An allowance outliving the import it excused would silently let the next one through."""
    used = {
        (i.file, module)
        for i in every_import
        for (file, module) in ALLOWANCES
        if i.file == file and within(i.module, module) and any(breaks(r, i) for r in RULES)
    }
    stale = sorted(set(ALLOWANCES) - used)
    assert not stale, f"allowances no longer needed (remove them and their reason from the docs): {stale}"


def test_the_checker_sees_submodules_lazy_and_type_only_imports() -> None:
    """The walk itself: a violation hidden in each of these forms is still reported, with its line."""
    source = textwrap.dedent(
        """
        from typing import TYPE_CHECKING
        from storage import models
        from storage.enums import Provider
        from .. import base

        if TYPE_CHECKING:
            from core.runtime import Runtime

        def later() -> None:
            import sandbox.server
        """
    )
    found = list(imports_in("providers/meta/graph.py", source))
    broken = {(i.line, i.module) for i in found for r in RULES if breaks(r, i)}
    assert broken == {(3, "storage.models"), (8, "core.runtime.Runtime"), (11, "sandbox.server")}, (
        f"the checker missed or over-reported imports: {sorted(broken)} from {found}"
    )
    assert Import("providers/meta/graph.py", 5, "providers.base") in found, f"relative import misread: {found}"


def _loaded_after_import(modules: list[str], watched: tuple[str, ...]) -> dict[str, list[str]]:
    """Import `modules` one by one in a fresh interpreter; for each, which of `watched` it brought in first."""
    script = textwrap.dedent(
        f"""
        import importlib, json, sys
        watched = {watched!r}
        seen, report = set(), {{}}
        for name in {modules!r}:
            importlib.import_module(name)
            loaded = {{w for w in watched if any(m == w or m.startswith(w + ".") for m in sys.modules)}}
            report[name] = sorted(loaded - seen)
            seen |= loaded
        print(json.dumps(report))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"importing {modules} failed:\n{done.stderr}"
    report: dict[str, list[str]] = json.loads(done.stdout)
    return report


def test_providers_load_without_sqlalchemy_or_the_models() -> None:
    """Adapters can be imported (and run) where no database layer exists."""
    modules = ["storage.enums", "providers.registry"] + [
        module_name(p.relative_to(ROOT).as_posix()) for p in sorted((ROOT / "providers").rglob("*.py"))
    ]
    report = _loaded_after_import(modules, ("sqlalchemy", "storage.models", "storage.db", "storage.queries"))
    pulled = {name: loaded for name, loaded in report.items() if loaded}
    assert not pulled, f"importing these providers modules loaded the database layer: {pulled}"


def test_processes_start_without_the_sandbox() -> None:
    """The web, worker, scheduler and `cheers` entry points never load a twin (only `cheers dev` does)."""
    report = _loaded_after_import(list(ENTRY_POINTS), ("sandbox",))
    pulled = {name: loaded for name, loaded in report.items() if loaded}
    assert not pulled, f"these entry points loaded sandbox modules: {pulled}"
