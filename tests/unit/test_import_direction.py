"""Imports point one way (docs/architecture.md, "The import rule"): a service imports shared/ and its own
package, never another service; shared/ imports no service. Read from every module's source with ast, so
an import inside a function counts as much as one at the top."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").is_file())


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) of every import in the source; relative imports resolved against `module`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + is_package]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found += [(node.lineno, name)]
            # `from services import intake` (or `from .. import intake`) names the service in its alias.
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names if name == "services"]
    return found


def violation(importer: str, target: str) -> str | None:
    """Why importer may not import target, or None when it may."""
    owner, wanted = importer.split("."), target.split(".")
    if wanted[0] != "services" or len(wanted) < 2:
        return None
    if owner[0] == "shared":
        return "shared/ imports a service"
    if owner[0] == "services" and len(owner) > 1 and wanted[1] != owner[1]:
        return f"service {owner[1]} imports service {wanted[1]}"
    return None


def violations(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        module = module_name(path)
        for line, target in imported(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py"):
            if reason := violation(module, target):
                found.append(f"{path.relative_to(ROOT)}:{line}: {target} ({reason})")
    return found


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", ["shared", *(f"services/{s}" for s in SERVICES)])
def test_imports_point_down_and_never_across(folder):
    paths = modules(folder)
    assert paths, f"no modules under {folder}"
    assert violations(paths) == []


@pytest.mark.parametrize("importer, source, expected", [
    ("shared.events.intake", "from services.intake.domain.record import DispatchRecord",
     ["services.intake.domain.record"]),
    ("shared.app", "def f():\n    import services.mediation.api", ["services.mediation.api"]),
    ("services.mediation.domain.routing", "from services.intake.domain import classification",
     ["services.intake.domain"]),
    ("shared.cli", "from services import assessment", ["services", "services.assessment"]),
])
def test_the_check_finds_upward_and_sideways_imports(importer, source, expected):
    targets = [target for _, target in imported(source, importer)]
    assert targets == expected
    assert violation(importer, targets[-1]) is not None


def test_a_relative_import_resolves_inside_its_own_service():
    source = "from . import repository\nfrom ..intake import handlers"
    targets = [target for _, target in imported(source, "services.mediation.api")]
    assert targets == ["services.mediation", "services.intake"]
    assert violation("services.mediation.api", targets[0]) is None
    assert violation("services.mediation.api", targets[1]) == "service mediation imports service intake"


def test_own_service_and_shared_are_allowed():
    assert violation("services.assessment.api", "services.assessment.repository") is None
    assert violation("services.assessment.api", "shared.events.envelope") is None
    assert violation("tools.contracts", "services.intake.api") is None
