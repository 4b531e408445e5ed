"""What Cordon imports is what it declares: a plain ``pip install .`` (no test extras) must run
the engine, the demo and the benchmarks, and nothing declared should go unused."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SHIPPED = ("cordon", "devices", "geofence", "alerts", "store", "ingest", "api", "simulators",
           "benchmarks", "history")
# Declared but never imported by name: used by another library at run time.
USED_INDIRECTLY = {
    "websockets": "uvicorn's WebSocket protocol (the live feed)",
    "python-multipart": "FastAPI's form parsing (the OAuth2 token endpoint)",
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(requirements: list[str]) -> set[str]:
    return {canonical(re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0]) for r in requirements}


# Shipped files that may also import the ``bench`` extra (``pip install cordon[bench]``): the
# console benchmark drives a browser. Every other benchmark runs from a plain install.
BENCH_EXTRA_USERS = {"benchmarks/console.py", "benchmarks/wall.py"}


def imported_modules(bench_extra: bool | None = None) -> set[str]:
    """Top-level names of every absolute import in the shipped packages; ``bench_extra``:
    only the files that may (True) or may not (False) import the bench extra."""
    names: set[str] = set()
    for package in SHIPPED:
        for path in (ROOT / package).rglob("*.py"):
            user = path.relative_to(ROOT).as_posix() in BENCH_EXTRA_USERS
            if bench_extra is not None and user != bench_extra:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names


def third_party(names: set[str]) -> dict[str, set[str]]:
    """Module name → the distributions that provide it, for modules not of Cordon or the
    standard library."""
    providers = packages_distributions()
    return {n: {canonical(d) for d in providers.get(n, ["<not installed>"])}
            for n in names - set(SHIPPED) - set(sys.stdlib_module_names)}


def undeclared(modules: set[str], deps: set[str]) -> dict[str, set[str]]:
    # A library that a declared one pulls in (pydantic, starlette: FastAPI's own API) counts
    # only if it is declared itself or is the declared one's documented API.
    api_of = {"pydantic": "fastapi", "starlette": "fastapi"}
    return {module: dists for module, dists in third_party(modules).items()
            if not dists & deps and api_of.get(module) not in deps}


def test_every_import_of_the_shipped_code_is_a_declared_dependency():
    deps = declared(PROJECT["dependencies"])
    missing = undeclared(imported_modules(bench_extra=False), deps)
    assert not missing, f"imported but not in [project] dependencies: {missing}"
    bench = deps | declared(PROJECT["optional-dependencies"]["bench"])
    missing = undeclared(imported_modules(bench_extra=True), bench)
    assert not missing, f"imported but in neither the dependencies nor the bench extra: {missing}"


def test_no_test_only_library_is_imported_by_the_shipped_code():
    extras = PROJECT["optional-dependencies"]
    test_only = declared(extras["test"]) - declared(PROJECT["dependencies"]) - declared(
        extras["bench"])
    used = {module: dists for module, dists in third_party(imported_modules()).items()
            if dists & test_only}
    assert not used, f"the shipped code imports test extras: {used}"


def test_every_declared_dependency_is_used():
    providers = third_party(imported_modules())
    imported = set().union(*providers.values())
    unused = declared(PROJECT["dependencies"]) - imported - set(USED_INDIRECTLY)
    assert not unused, f"declared but never imported: {unused}"
