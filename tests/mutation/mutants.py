"""Small changes to a module's source, one at a time, as the mutation run applies them.

Each mutant is one edit of the module's syntax tree: a comparison flipped or
moved across its boundary, a condition negated or dropped, `and`/`or` swapped,
a statement deleted, a number moved by one, a boolean flipped, `+`/`-` swapped,
`min`/`max` swapped, a keyword dropped from a record's `replace(...)`, a value
returned as None. Text meant for people is left alone: string constants,
f-strings, strings built with `+`, and names only ever used in them. Asserts,
annotations, decorators and `match` patterns are left alone too (asserts only
check what the code already relies on).

The tree is walked in the same order every time, so a mutant is named by its
index and rebuilt from the source alone (`mutate(source, index)`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# A comparison's mutants: its negation, and the boundary moved.
FLIPS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.GtE, ast.LtE),
    ast.LtE: (ast.Gt, ast.Lt),
    ast.Gt: (ast.LtE, ast.GtE),
    ast.GtE: (ast.Lt, ast.Gt),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
ARITHMETIC: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
}
# Calls whose keywords set a record's or a step's fields: dropping one leaves the field as it was.
FIELD_SETTERS = frozenset({"replace", "Step", "Record"})


@dataclass(frozen=True)
class Mutant:
    index: int
    line: int
    description: str
    # The lines that run whenever the mutated code runs (a statement, or a compound statement's header);
    # None: module level, run on import.
    span: tuple[int, int] | None


Edit = Callable[[], None]  # applies one mutant to the tree it was found in


def _src(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 70 else text[:67] + "..."


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _builds_text(node: ast.AST) -> bool:
    """A string built for people: an f-string, or `+` with a string on either side."""
    if _is_text(node):
        return True
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add)
        and (_builds_text(node.left) or _builds_text(node.right))
    )


def _message_names(func: ast.AST) -> set[str]:
    """Names a function assigns and reads only inside text for people (`verb`, `where`, ...)."""
    in_text: set[int] = set()
    for node in ast.walk(func):
        if isinstance(node, ast.expr) and _builds_text(node):
            in_text.update(id(n) for n in ast.walk(node))
    loads: dict[str, list[bool]] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            loads.setdefault(node.id, []).append(id(node) in in_text)
    return {name for name, uses in loads.items() if uses and all(uses)}


class _Finder:
    """Walks a module's tree in a fixed order and yields (line, description, edit) for every mutant."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.message_names: set[str] = set()
        self.span: tuple[int, int] | None = None

    def mutants(self) -> Iterator[tuple[int, str, Edit, tuple[int, int] | None]]:
        for stmt in self.tree.body:
            self.span = None
            for line, text, edit in self._module_statement(stmt):
                yield line, text, edit, self.span

    def _module_statement(self, stmt: ast.stmt) -> Iterator[tuple[int, str, Edit]]:
        if isinstance(stmt, ast.FunctionDef):
            self.message_names = _message_names(stmt)
            yield from self._block(stmt.body, deletable=True)
            self.message_names = set()
        elif isinstance(stmt, ast.ClassDef):
            for inner in stmt.body:
                yield from self._module_statement(inner)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            yield from self._expr(stmt.value, _setter(stmt, "value"))

    def _block(self, body: list[ast.stmt], *, deletable: bool) -> Iterator[tuple[int, str, Edit]]:
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.Assert) or _is_docstring(stmt):
                continue
            self.span = _span(stmt)
            if deletable and not _unreachable_raise(stmt):
                yield stmt.lineno, f"delete `{_src(stmt).splitlines()[0]}`", _deleter(body, i)
            yield from self._statement(stmt, last=i == len(body) - 1)

    def _statement(self, stmt: ast.stmt, *, last: bool) -> Iterator[tuple[int, str, Edit]]:
        match stmt:
            case ast.If() | ast.While():
                self.span = _span(stmt.test)
                yield from self._condition(stmt)
                yield from self._block(stmt.body, deletable=True)
                yield from self._block(stmt.orelse, deletable=True)
            case ast.For():
                self.span = _span(stmt.iter)
                yield from self._expr(stmt.iter, _setter(stmt, "iter"))
                yield from self._block(stmt.body, deletable=True)
            case ast.With():
                yield from self._block(stmt.body, deletable=True)
            case ast.Match():
                self.span = _span(stmt.subject)
                yield from self._expr(stmt.subject, _setter(stmt, "subject"))
                for case in stmt.cases:
                    yield from self._block(case.body, deletable=True)
            case ast.Return(value=value) if value is not None:
                if not (isinstance(value, ast.Constant) and value.value is None):
                    yield stmt.lineno, f"`{_src(stmt)}` -> `return None`", _setter(stmt, "value")(ast.Constant(None))
                yield from self._expr(value, _setter(stmt, "value"))
            case ast.Assign(targets=targets, value=value):
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                if not (names and names <= self.message_names):
                    yield from self._expr(value, _setter(stmt, "value"))
            case ast.AugAssign() | ast.Expr():
                yield from self._expr(stmt.value, _setter(stmt, "value"))
            case ast.Raise() | ast.FunctionDef():
                pass  # what is raised says what went wrong: text; nested functions: none here

    def _condition(self, stmt: ast.If | ast.While | ast.IfExp) -> Iterator[tuple[int, str, Edit]]:
        test = stmt.test
        if not isinstance(test, ast.UnaryOp) or not isinstance(test.op, ast.Not):  # else: `not` dropped, below
            yield stmt.lineno, f"`{_src(test)}` -> `not ({_src(test)})`", _setter(stmt, "test")(_negated(test))
        yield stmt.lineno, f"`{_src(test)}` -> `True` (condition dropped)", _setter(stmt, "test")(ast.Constant(True))
        yield from self._expr(test, _setter(stmt, "test"))

    def _expr(self, node: ast.expr, replace: Callable[[ast.expr], Edit]) -> Iterator[tuple[int, str, Edit]]:
        """Mutants of an expression; `replace(new)` is the edit that puts `new` where `node` is."""
        if _builds_text(node) or (isinstance(node, ast.Name) and node.id in self.message_names):
            return
        line = node.lineno
        match node:
            case ast.Compare(ops=[op], left=left, comparators=[right]):
                for new in FLIPS.get(type(op), ()):
                    flipped = ast.Compare(left=left, ops=[new()], comparators=[right])
                    yield line, f"`{_src(node)}` -> `{_src(flipped)}`", replace(flipped)
                yield from self._expr(left, _setter(node, "left"))
                yield from self._expr(right, _slot(node.comparators, 0))
            case ast.BoolOp(op=op, values=values):
                other = ast.Or() if isinstance(op, ast.And) else ast.And()
                swapped = ast.BoolOp(op=other, values=values)
                yield line, f"`{_src(node)}` -> `{_src(swapped)}`", replace(swapped)
                for i in range(len(values)):
                    rest = values[:i] + values[i + 1 :]
                    smaller = rest[0] if len(rest) == 1 else ast.BoolOp(op=op, values=rest)
                    yield line, f"`{_src(node)}` -> `{_src(smaller)}` (operand dropped)", replace(smaller)
                for i, value in enumerate(values):
                    yield from self._expr(value, _slot(node.values, i))
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                yield line, f"`{_src(node)}` -> `{_src(operand)}`", replace(operand)
                yield from self._expr(operand, _setter(node, "operand"))
            case ast.IfExp():
                if not (_is_text(node.body) and _is_text(node.orelse)):
                    yield from self._condition(node)
                yield from self._expr(node.body, _setter(node, "body"))
                yield from self._expr(node.orelse, _setter(node, "orelse"))
            case ast.BinOp(op=op, left=left, right=right):
                if type(op) in ARITHMETIC:
                    changed = ast.BinOp(left=left, op=ARITHMETIC[type(op)](), right=right)
                    yield line, f"`{_src(node)}` -> `{_src(changed)}`", replace(changed)
                yield from self._expr(left, _setter(node, "left"))
                yield from self._expr(right, _setter(node, "right"))
            case ast.Constant(value=bool() as b):
                yield line, f"`{b}` -> `{not b}`", replace(ast.Constant(not b))
            case ast.Constant(value=int() | float() as n):
                for delta in (1, -1):
                    yield line, f"`{n!r}` -> `{n + delta!r}`", replace(ast.Constant(n + delta))
            case ast.Call():
                yield from self._call(node, replace)
            case ast.Tuple() | ast.List() | ast.Set():
                for i, elt in enumerate(node.elts):
                    yield from self._expr(elt, _slot(node.elts, i))
            case ast.Dict():
                for i, v in enumerate(node.values):
                    yield from self._expr(v, _slot(node.values, i))
            case ast.Subscript():
                yield from self._expr(node.slice, _setter(node, "slice"))
            case ast.Attribute():
                yield from self._expr(node.value, _setter(node, "value"))
            case ast.Starred():
                yield from self._expr(node.value, _setter(node, "value"))
            case ast.NamedExpr():
                yield from self._expr(node.value, _setter(node, "value"))
            case ast.GeneratorExp() | ast.ListComp() | ast.SetComp() | ast.DictComp():
                for gen in node.generators:
                    for i, cond in enumerate(gen.ifs):
                        yield (
                            line,
                            f"`if {_src(cond)}` -> `if not ({_src(cond)})`",
                            _set_item_edit(gen.ifs, i, _negated(cond)),
                        )
                        yield from self._expr(cond, _slot(gen.ifs, i))

    def _call(self, node: ast.Call, replace: Callable[[ast.expr], Edit]) -> Iterator[tuple[int, str, Edit]]:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name == "with_event":
            return  # an event's words and the data the pictures draw: text for people
        if name in ("min", "max"):
            other = ast.Name(id="max" if name == "min" else "min", ctx=ast.Load())
            yield node.lineno, f"`{name}(...)` -> `{other.id}(...)`", _setter(node, "func")(other)
        if name in FIELD_SETTERS:
            for i, kw in enumerate(node.keywords):
                if kw.arg is not None:
                    yield node.lineno, f"drop `{kw.arg}=` from `{_src(node)}`", _deleter(node.keywords, i)
        yield from self._expr(func, _setter(node, "func"))
        for i, arg in enumerate(node.args):
            yield from self._expr(arg, _slot(node.args, i))
        for kw in node.keywords:
            yield from self._expr(kw.value, _setter(kw, "value"))


def _span(node: ast.stmt | ast.expr) -> tuple[int, int]:
    return node.lineno, node.end_lineno or node.lineno


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and _is_text(stmt.value)


def _unreachable_raise(stmt: ast.stmt) -> bool:
    """`raise AssertionError(...)`: marks code that cannot be reached; deleting it changes nothing."""
    exc = stmt.exc if isinstance(stmt, ast.Raise) else None
    return isinstance(exc, ast.Call) and isinstance(exc.func, ast.Name) and exc.func.id == "AssertionError"


def _negated(test: ast.expr) -> ast.expr:
    return ast.UnaryOp(op=ast.Not(), operand=test)


def _setter(owner: ast.AST, attr: str) -> Callable[[ast.expr], Edit]:
    return lambda new: lambda: setattr(owner, attr, new)


def _slot(items: list[ast.expr], i: int) -> Callable[[ast.expr], Edit]:
    return lambda new: _set_item_edit(items, i, new)


def _set_item_edit(items: list[ast.expr], i: int, new: ast.expr) -> Edit:
    def edit() -> None:
        items[i] = new

    return edit


def _deleter(items: list[ast.stmt] | list[ast.keyword], i: int) -> Edit:
    def edit() -> None:
        if isinstance(items[i], ast.stmt):
            items[i] = ast.Pass()  # type: ignore[call-overload]
        else:
            del items[i]

    return edit


def mutants(source: str) -> list[Mutant]:
    """Every mutant of a module's source, in a fixed order."""
    finder = _Finder(ast.parse(source))
    return [Mutant(i, line, text, span) for i, (line, text, _, span) in enumerate(finder.mutants())]


def mutate(source: str, index: int) -> ast.Module:
    """The module's tree with mutant `index` applied (ready for `compile`)."""
    tree = ast.parse(source)
    for i, (_, _, edit, _) in enumerate(_Finder(tree).mutants()):
        if i == index:
            edit()
            return ast.fix_missing_locations(tree)
    raise IndexError(f"no mutant {index}")
