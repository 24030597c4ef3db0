"""The packages form a straight line and accounting's domain folders are stacked (STYLE.md):
each imports only what sits below it. Read from the source, so a lazy import inside a
function counts too."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Top to bottom; each may import itself and what comes after it.
STACK = ["api", "merchants", "accounting.reports", "accounting.market", "accounting.issuance",
         "accounting.quantification", "accounting.record", "accounting.ledger", "accounting", "config"]


def layer_of(module: str) -> int | None:
    for index, layer in enumerate(STACK):
        if module == layer or module.startswith(layer + "."):
            return index
    return None


def imports_of(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def upward_imports(package_root: Path) -> dict[str, list[str]]:
    """module → what it imports from a layer above its own."""
    found = {}
    for path in sorted(p for package in ("api", "merchants", "accounting", "config")
                       for p in (package_root / package).rglob("*.py")):
        module = ".".join(path.relative_to(package_root).with_suffix("").parts)
        own = layer_of(module)
        upward = [name for name in imports_of(path) if (layer := layer_of(name)) is not None and layer < own]
        if upward:
            found[module] = upward
    return found


def test_imports_only_point_down():
    assert upward_imports(ROOT) == {}


def test_an_upward_import_is_caught(tmp_path):
    ledger = tmp_path / "accounting" / "ledger"
    ledger.mkdir(parents=True)
    (ledger / "movement.py").write_text("from accounting.issuance.models import IssuanceBatch\n")
    assert upward_imports(tmp_path) == {"accounting.ledger.movement": ["accounting.issuance.models.IssuanceBatch"]}
