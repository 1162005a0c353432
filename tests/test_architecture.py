"""Guards for the architecture: engines stay MCP-free and start-up stays light."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "peft", "sentence_transformers", "accelerate", "bitsandbytes")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
            if node.module.startswith("skilldeck.server"):
                names.add("skilldeck.server")
    return names


def test_no_engine_module_imports_mcp_or_the_server_layer():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "tools").rglob("*.py")
                 if {"mcp", "skilldeck.server"} & _imports(p)]
    assert offenders == []


def test_heavy_libraries_are_not_imported_at_module_top_anywhere_the_server_loads():
    offenders = []
    for path in list((ROOT / "tools").rglob("*.py")) + list((ROOT / "server").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only; imports inside functions are the rule
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(m.split(".")[0] in HEAVY for m in mods):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_building_the_server_imports_no_heavy_library():
    code = ("import sys; from skilldeck.server.app import build_server; from skilldeck.server.settings import Settings;"
            "build_server(Settings(watch=False)); import skilldeck.server.cli as c; c.build_parser();"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
