"""The runtime's imports need only requirements.txt: a package listed only in requirements-dev.txt (tests, bench)
that the application imports breaks a fresh clone's main command, which installs requirements.txt alone."""
import ast
import re
from importlib.metadata import packages_distributions

from tests.conftest import ROOT

RUNTIME = ["app", "stream", "memory", "compression", "models", "evaluation", "run.py"]


def names(path) -> set[str]:
    lines = (ROOT / path).read_text().splitlines()
    return {re.split(r"[=<>\[ ;]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
            for line in lines if line.strip() and not line.startswith(("#", "-r"))}


def imported(files) -> set[str]:
    out = set()
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                out |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                out.add(node.module.split(".")[0])
    return out


def test_the_application_imports_nothing_that_only_the_tests_install():
    files = [p for entry in RUNTIME for p in ([ROOT / entry] if entry.endswith(".py") else (ROOT / entry).rglob("*.py"))]
    dists = packages_distributions()
    used = {d.lower().replace("_", "-") for m in imported(files) for d in dists.get(m, [])}
    dev_only = names("requirements-dev.txt") - names("requirements.txt")
    assert dev_only and "pytest" in dev_only                      # the lists were read
    assert used & names("requirements.txt")                       # and so were the imports
    assert not used & dev_only, f"imported by the application but only in requirements-dev.txt: {used & dev_only}"
