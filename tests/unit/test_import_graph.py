"""The import graph of minifc/, read from the source: no module imports itself back through others
(imports inside functions count too), and an import inside a function says why it is there."""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "minifc"

#: optional dependencies (and the TOML reader of old Pythons): imported where used, no comment needed
OPTIONAL = {"matplotlib", "torchvision", "numpy", "optuna", "tomli", "tomllib", "PIL"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. "minifc.training.inputs"
    target: str  # the imported module, e.g. "minifc.registry.core" or "matplotlib.pyplot"
    line: int
    in_function: bool


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under ``package``."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import statement of ``module``, relative ones resolved; ``from a import b`` is an
    import of ``a.b`` when that is a module, else of ``a``. Imports under ``if TYPE_CHECKING:``
    do not run, so they are left out."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.orelse:
                    visit(stmt, in_function)
                continue
            if isinstance(child, ast.Import):
                found.extend(Import(module, a.name, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    found.append(Import(module, sub if sub in modules else base, child.lineno, in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


def import_graph(package: Path = PACKAGE) -> tuple[dict[str, set[str]], list[Import]]:
    """Edges between the modules of ``package`` (importer -> imported), and every import found."""
    modules = module_names(package)
    everything = [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for imp in everything:
        if imp.target in modules and imp.target != imp.module:
            graph[imp.module].add(imp.target)
            # importing a.b.c first runs the __init__ of each package above it that the importer is not
            # inside of (the importer's own packages ran before it did; the root runs before anything)
            parts = imp.target.split(".")
            for n in range(2, len(parts)):
                above = ".".join(parts[:n])
                if above in modules and not (imp.module == above or imp.module.startswith(above + ".")):
                    graph[imp.module].add(above)
    return graph, everything


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """A cycle ``[a, b, ..., a]`` of ``graph``, or [] when there is none (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if start in state:
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return []


def _comment_lines(path: Path) -> set[int]:
    """Lines holding a comment that explains (not only a ``type:`` or ``noqa`` pragma)."""
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            if text and not text.startswith(("type:", "noqa", "pragma")):
                lines.add(token.start[0])
    return lines


def unexplained_function_imports(package: Path = PACKAGE) -> list[str]:
    """'file:line: target' for each import inside a function that is not of an optional dependency
    and has no comment on its line or on the line above (a comment above a run of import lines
    explains the run)."""
    modules = module_names(package)
    _, everything = import_graph(package)
    explained = {name: _comment_lines(path) for name, path in modules.items()}
    bad = []
    for imp in sorted(everything, key=lambda i: (i.module, i.line)):
        if not imp.in_function or imp.target.split(".")[0] in OPTIONAL:
            continue
        if {imp.line, imp.line - 1} & explained[imp.module]:
            explained[imp.module].add(imp.line)
            continue
        where = f"{modules[imp.module].relative_to(package.parent)}:{imp.line}: {imp.target}"
        if where not in bad:
            bad.append(where)
    return bad


def test_minifc_has_no_import_cycle():
    graph, _ = import_graph()
    assert len(graph) > 50 and graph["minifc.training.trainer"], "the graph was not read"
    cycle = find_cycle(graph)
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_every_import_inside_a_function_says_why():
    bad = unexplained_function_imports()
    assert not bad, "imports inside functions without a comment saying why:\n" + "\n".join(bad)


def test_the_checks_can_fail(tmp_path):
    pkg = tmp_path / "minifc"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import x, y\n    import numpy\n")
    explained = "def g():\n    # heavy: loaded only when g runs\n    from . import a\n    import minifc.sub\n"
    (pkg / "c.py").write_text("import minifc.a\n\n\n" + explained)
    graph, _ = import_graph(pkg)
    assert graph["minifc.a"] == {"minifc.sub", "minifc.sub.b"} and graph["minifc.sub.b"] == {"minifc.c"}
    assert find_cycle(graph) == ["minifc.a", "minifc.sub.b", "minifc.c", "minifc.a"]
    assert unexplained_function_imports(pkg) == ["minifc/sub/b.py:2: minifc.c"]
    (pkg / "c.py").write_text("")
    assert find_cycle(import_graph(pkg)[0]) == []


def test_minifc_top_level_holds_at_most_15_modules():
    # the layers live in folders (registry/, nn/, verify/, io/, cli/, training/, optim/, experiments/, data/)
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 15, f"{len(top)} modules at the top of minifc/: {top}"
