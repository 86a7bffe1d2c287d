"""The layering of docs/ARCHITECTURE.md, checked: import-linter's contracts (pyproject.toml),
no imports inside functions, few loose modules, and nobody testing an origin's class."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ocicache"
ORIGIN_CLASSES = {"FilesystemOrigin", "S3Origin", "DistributionOrigin", "CachingOrigin", "ReadOnlyOrigin"}
# Imports allowed inside a function: optional dependencies only, each with the reason.
# (module path relative to ocicache/, imported module) -> why
FUNCTION_IMPORTS_ALLOWED: dict[tuple[str, str], str] = {}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_import_contracts_hold():
    """lint-imports: every module imports only from layers below its own, and no package has
    modules importing each other in a circle."""
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "2 kept, 0 broken" in run.stdout, run.stdout[-3000:]


def _function_imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    found += [(inner.lineno, alias.name) for alias in inner.names]
                elif isinstance(inner, ast.ImportFrom):
                    found.append((inner.lineno, "." * inner.level + (inner.module or "")))
    return found


def test_no_imports_inside_functions():
    found = []
    for path in modules():
        rel = str(path.relative_to(PACKAGE))
        for line, name in _function_imports(ast.parse(path.read_text(), str(path))):
            if (rel, name) not in FUNCTION_IMPORTS_ALLOWED:
                found.append(f"ocicache/{rel}:{line} imports {name} inside a function")
    assert not found, "\n".join(found)


def test_the_checks_see_a_function_level_import():
    tree = ast.parse("import os\n\ndef f():\n    from . import errors\n    return errors\n")
    assert _function_imports(tree) == [(4, ".")]


def test_at_most_six_loose_modules():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= 6, loose


def test_nobody_tests_an_origins_class():
    """Callers ask an origin (check, upload_mode, open_uploads, cache); only the factory that
    builds origins names their classes, and nobody uses isinstance or getattr on one."""
    found = []
    for path in modules():
        rel = str(path.relative_to(PACKAGE))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id == "isinstance" and len(node.args) == 2:
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                if names & ORIGIN_CLASSES:
                    found.append(f"ocicache/{rel}:{node.lineno}: isinstance(..., {sorted(names)})")
            if node.func.id in ("getattr", "hasattr") and node.args:
                target = ast.unparse(node.args[0])
                if "origin" in target.lower() or "remote" in target.lower():
                    found.append(f"ocicache/{rel}:{node.lineno}: {node.func.id}({target}, ...)")
    assert not found, "\n".join(found)
