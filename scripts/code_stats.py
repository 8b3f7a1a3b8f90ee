"""Lines of code per package, import edges between edgecnn's packages, and the import cycles among them.

    python3 scripts/code_stats.py edgecnn

Lines are non-blank and non-comment. Imports inside functions are counted apart: DESIGN keeps them for heavy
third-party packages. The cycles are strongly connected components of the package graph.
"""

from __future__ import annotations

import ast
import collections
import pathlib
import sys


def package_of(path: pathlib.Path, root: pathlib.Path) -> str:
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def imported_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return []


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Packages that import each other, directly or through others (Kosaraju's two passes)."""
    forward, backward = collections.defaultdict(set), collections.defaultdict(set)
    for a, b in edges:
        forward[a].add(b)
        backward[b].add(a)
    order: list[str] = []
    seen: set[str] = set()

    def visit(node: str, graph: dict[str, set[str]], out: list[str]) -> None:
        stack = [(node, iter(sorted(graph[node])))]
        seen.add(node)
        while stack:
            current, children = stack[-1]
            child = next((c for c in children if c not in seen), None)
            if child is None:
                stack.pop()
                out.append(current)
            else:
                seen.add(child)
                stack.append((child, iter(sorted(graph[child]))))

    for node in sorted(set(forward) | set(backward)):
        if node not in seen:
            visit(node, forward, order)
    seen.clear()
    components = []
    for node in reversed(order):
        if node not in seen:
            component: list[str] = []
            visit(node, backward, component)
            if len(component) > 1:
                components.append(sorted(component))
    return components


def main(root: pathlib.Path) -> None:
    lines: collections.Counter[str] = collections.Counter()
    edges: set[tuple[str, str]] = set()
    in_functions = internal_in_functions = 0
    for path in sorted(root.rglob("*.py")):
        package = package_of(path, root)
        text = path.read_text()
        lines[package] += sum(1 for s in map(str.strip, text.splitlines()) if s and not s.startswith("#"))
        tree = ast.parse(text)
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(func):
                    modules = imported_modules(node)
                    in_functions += bool(modules)
                    internal_in_functions += any(m.startswith(f"{root.name}.") for m in modules)
        for node in ast.walk(tree):
            for module in imported_modules(node):
                parts = module.split(".")
                if parts[0] == root.name and len(parts) > 1 and parts[1] != package and package != "__init__":
                    edges.add((package, parts[1]))
    for package, count in sorted(lines.items()):
        print(f"{package}: {count}")
    print(f"total: {sum(lines.values())}")
    print(f"imports inside functions: {in_functions} ({internal_in_functions} of {root.name}'s own modules)")
    print("edges:", "; ".join(f"{a}->{b}" for a, b in sorted(edges)))
    print("import cycles between packages:", cycles(edges) or "none")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "edgecnn"))
