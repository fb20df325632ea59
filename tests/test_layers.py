"""design.md §2: arrows run down only.  Walks every import in router/ (function-level and
TYPE_CHECKING ones too) with ``ast`` and fails on each arrow the layout forbids, so a
shortcut that would tangle the packages is caught the day it is written."""

from __future__ import annotations

import ast
from pathlib import Path

ROUTER = Path(__file__).resolve().parent.parent / "router"

EVERYTHING = frozenset({"smpp", "model", "store", "policy", "dlr", "dispatch", "server",
                        "upstream", "ingest", "config", "logs", "timer", "tls", "admin",
                        "app", "cli", "http_api", "web"})
ABOVE_STORE = frozenset({"policy", "server", "upstream", "dispatch", "dlr", "ingest", "admin",
                         "app", "cli", "config", "http_api"})

# (importer, module) arrows allowed through a ban: config composes admin's settings (data)
EXCEPTIONS = frozenset({("config", "admin.settings"), ("config", "http_api.settings")})

# package -> the packages (top-level names under router/) it must never import
FORBIDDEN: dict[str, frozenset[str]] = {
    "smpp": EVERYTHING - {"smpp"},  # the sans-IO core stands alone
    "model": EVERYTHING - {"model", "smpp"},
    "logs": EVERYTHING - {"logs"},
    "timer": EVERYTHING - {"timer"},
    "tls": EVERYTHING - {"tls"},
    "web": EVERYTHING - {"web", "tls"},  # the HTTP listeners' shared parts
    "store": ABOVE_STORE,
    "policy": ABOVE_STORE - {"policy"},
    "dlr": ABOVE_STORE - {"dlr"},
    "ingest": ABOVE_STORE - {"ingest", "policy"},
    "dispatch": frozenset({"server", "upstream", "ingest", "admin", "app", "cli", "config",
                           "http_api"}),
    "server": frozenset({"upstream", "ingest", "admin", "app", "cli", "config", "http_api"}),
    "upstream": frozenset({"server", "ingest", "admin", "app", "cli", "config", "http_api"}),
    "config": frozenset({"app", "cli", "ingest", "admin", "http_api"}),
    "admin": frozenset({"app", "cli", "ingest", "http_api"}),  # everything below the app
    "http_api": frozenset({"app", "cli", "ingest", "admin", "server", "upstream"}),
    "app": frozenset({"cli"}),  # design.md §2: app -> everything (list import jobs: ingest)
    "cli": frozenset(),
    "__init__": frozenset(),
}


def package_of(path: Path) -> str:
    parts = path.relative_to(ROUTER).with_suffix("").parts
    return parts[0]


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted module under router.) for every import of the router package."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "router":
                found += [(node.lineno, alias.name) for alias in node.names]
            elif node.module.startswith("router."):
                found.append((node.lineno, node.module.removeprefix("router.")))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.removeprefix("router."))
                      for alias in node.names if alias.name.startswith("router.")]
    return found


def forbidden_arrows() -> list[str]:
    arrows = []
    for path in sorted(ROUTER.rglob("*.py")):
        source = package_of(path)
        if source not in FORBIDDEN:
            arrows.append(f"{path.relative_to(ROUTER.parent)}: in no layer of design.md §2")
            continue
        banned = FORBIDDEN[source]
        for line, module in imported(ast.parse(path.read_text(), str(path))):
            target = module.split(".")[0]
            if target == source:
                continue
            if target in banned and (source, module) not in EXCEPTIONS:
                arrows.append(f"{path.relative_to(ROUTER.parent)}:{line}: "
                              f"{source} -> {module}")
    return arrows


def test_no_forbidden_arrow() -> None:
    """design.md §2: smpp imports nothing of router/; model only smpp; store never policy
    or anything above; policy never server, upstream, dispatch; server and upstream never
    each other; nothing imports app or cli except cli itself; only cli imports ingest;
    nothing imports admin except app and cli (config only its settings)."""
    arrows = forbidden_arrows()
    assert not arrows, "forbidden imports:\n" + "\n".join(arrows)


def test_the_walker_sees_function_level_imports() -> None:
    """The check cannot pass by missing imports hidden inside functions."""
    tree = ast.parse("def f():\n    from router.app.lifecycle import App\n"
                     "import router.cli\nfrom router import config\n")
    assert sorted(m for _, m in imported(tree)) == ["app.lifecycle", "cli", "config"]
