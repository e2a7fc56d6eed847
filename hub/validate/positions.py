"""Where in the original JSON text an issue's element is: (line, column) for FHIRPath expressions.

The validator names an element by the path hub.validate.paths spells: a root name, then `.name` (or
``.`escaped name` `` for a key that is not an identifier; a primitive's extension part `_x` is `.x` too) and
`[index]` steps, e.g. ``Bundle.entry[1].resource.name[0].given[0]``. locate() finds those in the text in one
pass of a small tokenizer (a regular expression matches whole tokens, so a string of megabytes is one step),
which follows only the containers on the way to a wanted element and counts brackets through all others.

What a position is (lines and columns are 1-based; a column counts characters, i.e. code points, of its line;
a leading UTF-8 byte-order mark is not counted, as the JSON parser skips it):

- a property (``....code``): the opening quote of its key; for `x` given both as "x" and "_x" (a primitive and
  its extension part), the key "x"; for a key given twice, the last one (the one the JSON parser keeps);
- an array item (``...given[0]``): the first character of the item's value;
- the root (``Bundle``): the opening brace of the document.
- a missing element (the validator reports some absent required elements at their own path): the position of
  its nearest ancestor in the text, so a missing ``Bundle.entry[0].resource.id`` is put at the key "resource";
  an expression beyond this grammar (a function such as `.where(...)`) at the element its leading path names.

None when not even the root is found (the bytes are no JSON container) or the expression does not start with a
root name. locate() never raises: a position is an aid for the reader of an OperationOutcome, never a reason
for validation to fail; on input it cannot follow (invalid JSON) it returns what it found before that point.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

from hub.validate import paths

Position = tuple[int, int]

# A token of JSON text, after the separators before it (whitespace, commas, colons):
#   1 a string, 2 the colon after it when it is a key; 3 an opening and 4 a closing bracket; 5 a number or
#   literal (or any run of stray characters); 6 a quote that opens no complete string (truncated text: stop).
# Possessive quantifiers: a string of megabytes is matched once, never backtracked into.
_STRING_RE = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_TOKEN = re.compile(
    rf'[\s,:]*+(?:({_STRING_RE})(\s*+:)?|([{{\[])|([}}\]])|([^\s,:{{}}\[\]"]++)|("))',
    re.DOTALL,
)
# Inside a container no wanted path enters: everything up to the next bracket that is not in a string or in a
# container without containers, in one match (so a long list of numbers, strings or codings costs one step,
# not one per value); then 1 an opening, 2 a closing bracket, 3 a quote that opens no complete string.
_FLAT = rf'(?:[^"{{}}\[\]]++|{_STRING_RE})*+'


def _nested(depth: int) -> str:
    """The content of a container with containers in it to the given depth (1: flat), as one pattern."""
    inner = _FLAT
    for _ in range(depth - 1):
        inner = rf'(?:[^"{{}}\[\]]++|{_STRING_RE}|\[{inner}\]|\{{{inner}\}})*+'
    return inner


# A whole container nested up to six deep is passed over in one match (an entry's resource, mostly); only a
# deeper one costs a match per bracket below that depth.
_DEEP = _nested(6)
_SKIP = re.compile(
    rf'(?:[^"{{}}\[\]]++|{_STRING_RE}|\[{_DEEP}\]|\{{{_DEEP}\}})*+(?:([{{\[])|([}}\]])|("))',
    re.DOTALL,
)
# In an object that is followed: the members whose keys are not wanted, with their values (a string, a number or
# literal, a container nested up to three deep), in one match; the key of such a member has no escapes. What it
# does not pass over (a wanted key, an escaped one, a deeper value) the tokens take, one at a time.
_MEMBER_VALUE = rf'(?:{_STRING_RE}|[^\s,:{{}}\[\]"]++|\[{_nested(3)}\]|\{{{_nested(3)}\}})'
_PLAIN_STEP = re.compile(r"\.[A-Za-z_][A-Za-z0-9_]*")


@lru_cache(maxsize=512)
def _member_skipper(names: tuple[str, ...]) -> Callable[[str, int], re.Match[str] | None]:
    """The match of the unwanted members of an object whose wanted keys are names (each also as "_name")."""
    wanted = "|".join(re.escape(name) for name in names)
    unwanted_key = rf'"(?!_?(?:{wanted})")[^"\\]*+"'
    return re.compile(rf"(?:[\s,]*+{unwanted_key}\s*+:\s*+{_MEMBER_VALUE})*+", re.DOTALL).match


def _skipper(node: _Node) -> Callable[[str, int], re.Match[str] | None] | None:
    """The member skipper of a followed object's node; None when a wanted key is not a plain name."""
    names = []
    for step in node.children:
        if not isinstance(step, str) or _PLAIN_STEP.fullmatch(step) is None:
            return None
        names.append(step[1:])
    return _member_skipper(tuple(sorted(names)))


_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# the steps paths spells: .name, .`escaped name`, [index]; an index of more digits than any list can have is
# not read (int() refuses very long digit strings)
_STEP = re.compile(r"(\.[A-Za-z_][A-Za-z0-9_]*)|(\.`(?:[^`\\]|\\.)*`)|\[(\d{1,12})\]", re.DOTALL)

_STRING, _COLON, _OPEN, _CLOSE, _SCALAR, _UNTERMINATED = 1, 2, 3, 4, 5, 6


class _Node:
    """A step of the wanted paths: its children by spelled key (".name") or index, and where it was found."""

    __slots__ = ("children", "offset", "rank")

    def __init__(self) -> None:
        self.children: dict[str | int, _Node] = {}
        self.offset = -1  # character offset in the text, -1 until found
        # 1 when reached by plain keys only, 0 when through a "_x" key: "x" is preferred to "_x"
        self.rank = -1

    def forget(self) -> None:
        """Clear what was found below this node (its key occurs again: the JSON parser keeps the last)."""
        todo = list(self.children.values())
        while todo:
            node = todo.pop()
            node.offset = node.rank = -1
            todo.extend(node.children.values())


def steps(expression: str) -> list[str | int] | None:
    """The steps after the root name: spelled keys (".name", ".`x y`") and indices; None if there is no root.

    Parsing stops at the first text that is no step; a step followed by "(" is a function call, not a key, and
    is left out too.
    """
    root = _ROOT.match(expression)
    if root is None:
        return None
    found: list[str | int] = []
    at = root.end()
    while at < len(expression):
        step = _STEP.match(expression, at)
        if step is None:
            break
        at = step.end()
        if at < len(expression) and expression[at] == "(":
            break
        index = step.group(3)
        found.append(int(index) if index is not None else step.group(step.lastindex or 0))
    return found


@lru_cache(maxsize=4096)
def _steps(expression: str) -> tuple[str | int, ...] | None:
    """steps(), remembered: the issues of one kind of fault name the same paths message after message."""
    found = steps(expression)
    return None if found is None else tuple(found)


def _decoded(raw: bytes | bytearray | memoryview | str) -> str:
    if isinstance(raw, str):
        return raw[1:] if raw.startswith("\ufeff") else raw
    return bytes(raw).decode("utf-8-sig", errors="replace")


def _key(token: str) -> tuple[str, bool] | None:
    """The spelled path step of a key token (with its quotes), and whether it is a "_x" key: '"_birthDate"' ->
    ('.birthDate', True)."""
    if "\\" in token:
        try:
            key = json.loads(token)
        except ValueError:
            return None
        if not isinstance(key, str):
            return None
    else:
        key = token[1:-1]
    return paths.child("", key), len(key) > 1 and key.startswith("_")


class _Frame:
    """A container being followed: its node, kind, the index of its next item, rank, keys matched in it."""

    __slots__ = ("is_array", "keys", "last", "members", "next", "node", "rank", "unsettled")

    def __init__(self, node: _Node, is_array: bool, rank: int) -> None:
        self.node = node
        # an object's member skipper (_skipper): passes over the members it does not want, None in an array
        self.members = None if is_array else _skipper(node)
        self.is_array = is_array
        self.rank = rank
        self.next = 0
        self.keys: set[str] = set()
        # an object's wanted keys not yet met as plain keys (a "_x" alone may still be followed by "x")
        self.unsettled = {step for step in node.children if isinstance(step, str)} if not is_array else set()
        # an array's last wanted index: its items after that are passed over
        self.last = max((step for step in node.children if isinstance(step, int)), default=-1) if is_array else -1


def _scan(text: str, root: _Node, unique_keys: bool = False) -> None:
    """Record in the wanted nodes the offsets at which the text has them: one pass over the tokens.

    Only containers on the way to a wanted node are followed (a frame each), token by token; any other is
    passed over from bracket to bracket (skip counts them), so its strings and numbers cost nothing in Python.
    With unique_keys (the caller knows that no object of the text has a key twice), the pass ends as soon as
    every followed container has met all it wants: no later key can move a position found.
    """
    match_token, match_skip = _TOKEN.match, _SKIP.match
    stack: list[_Frame] = []
    skip = 0
    value_node: _Node | None = None  # the wanted node the next value of the current object is (after its key)
    value_rank = 1
    keyed = False  # a key of the current object was just read: its value is next
    at = 0
    while True:
        if skip:
            passed = match_skip(text, at)
            if passed is None or passed.lastindex == 3:
                return
            at = passed.end()
            skip += 1 if passed.lastindex == 1 else -1
            continue
        if stack and not keyed:
            if unique_keys and _complete(stack):
                return
            members = stack[-1].members
            if members is not None:
                passed = members(text, at)
                if passed is not None:
                    at = passed.end()
        token = match_token(text, at)
        if token is None:
            return
        at = token.end()
        kind = token.lastindex
        if kind is None or kind == _UNTERMINATED:
            return
        start = token.start(_STRING if kind == _COLON else kind)
        if not stack:  # the root value
            if kind != _OPEN:
                return
            root.offset, root.rank = start, 1
            stack.append(_Frame(root, token.group(_OPEN) == "[", 1))
            continue
        frame = stack[-1]
        if kind == _CLOSE:
            stack.pop()
            value_node = None
            keyed = False
            if not stack:
                return  # the end of the root: anything after it is not the document
            continue
        target: _Node | None
        if frame.is_array:
            if frame.next > frame.last and len(stack) > 1:
                # no wanted item is left in this array: pass over the rest of it (this token included)
                stack.pop()
                skip = 1
                at = start
                continue
            target = frame.node.children.get(frame.next)
            target_rank = frame.rank
            frame.next += 1
            if target is not None and target_rank >= target.rank:
                target.offset, target.rank = start, target_rank
        elif kind == _COLON:  # a key: note the wanted child it names, if any
            value_node = None
            keyed = True
            key = token.group(_STRING)
            spelled = _key(key)
            child = frame.node.children.get(spelled[0]) if spelled is not None else None
            if child is None or spelled is None:
                continue
            rank = 0 if spelled[1] else frame.rank
            if not spelled[1]:
                frame.unsettled.discard(spelled[0])
            if rank >= child.rank:
                if key in frame.keys:
                    child.forget()
                frame.keys.add(key)
                child.offset, child.rank = start, rank
            value_node, value_rank = child, rank
            continue
        else:  # the value of the last key
            target, target_rank = value_node, value_rank
            value_node = None
            keyed = False
        if kind == _OPEN:
            if target is not None and target.children:
                stack.append(_Frame(target, token.group(_OPEN) == "[", target_rank))
            else:
                skip = 1


def _complete(stack: list[_Frame]) -> bool:
    """Every followed container has met all it wants: each object its wanted keys, each array its last wanted
    item (the innermost first: it is the one most often still looking)."""
    return all(frame.next > frame.last if frame.is_array else not frame.unsettled for frame in reversed(stack))


def _positions(text: str, offsets: Iterable[int]) -> dict[int, Position]:
    """(line, column) of each character offset; the newlines are counted once, from one offset to the next."""
    found: dict[int, Position] = {}
    line, counted, line_start = 1, 0, 0
    for offset in sorted(set(offsets)):
        newlines = text.count("\n", counted, offset)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", counted, offset) + 1
        counted = offset
        found[offset] = (line, offset - line_start + 1)
    return found


def locate(
    raw: bytes | bytearray | memoryview | str, expressions: Sequence[str | None], *, unique_keys: bool = False
) -> list[Position | None]:
    """The (line, column) in the JSON text raw of each expression's element (see the module docstring), in order.

    One pass over the text however many expressions (with unique_keys, a text known to give no key twice in an
    object, only up to the last element wanted); never raises.
    """
    try:
        return _locate(raw, expressions, unique_keys)
    except Exception:  # an aid only: validation must never fail for want of a position
        return [None] * len(expressions)


def _locate(
    raw: bytes | bytearray | memoryview | str, expressions: Sequence[str | None], unique_keys: bool = False
) -> list[Position | None]:
    root = _Node()
    walks: list[list[_Node] | None] = []  # the nodes of each expression's steps
    for expression in expressions:
        walked = _steps(expression) if isinstance(expression, str) else None
        if walked is None:
            walks.append(None)
            continue
        node = root
        nodes = [root]
        for step in walked:
            node = node.children.setdefault(step, _Node())
            nodes.append(node)
        walks.append(nodes)
    if all(nodes is None for nodes in walks):
        return [None] * len(expressions)
    text = _decoded(raw)
    _scan(text, root, unique_keys)
    # each expression's deepest found node: its own, or its nearest ancestor's
    offsets: list[int] = []
    for walk in walks:
        offset = -1
        for node in walk or ():
            if node.offset < 0:
                break
            offset = node.offset
        offsets.append(offset)
    found = _positions(text, (offset for offset in offsets if offset >= 0))
    return [found[offset] if offset >= 0 else None for offset in offsets]


# --- duplicate keys: the exact pass ---------------------------------------------------------------------------


class DuplicateKey:
    """A key given again in the same JSON object: the key (decoded), the path of its element, where it is given
    again and where it was given first (lines and columns as for locate)."""

    __slots__ = ("expression", "first", "key", "position")

    def __init__(self, key: str, expression: str, position: Position, first: Position) -> None:
        self.key = key
        self.expression = expression
        self.position = position
        self.first = first

    def __repr__(self) -> str:
        return f"DuplicateKey({self.key!r}, {self.expression!r}, {self.position}, first={self.first})"


def duplicate_keys(
    raw: bytes | bytearray | memoryview | str, *, root: str = "Bundle", limit: int = 100
) -> list[DuplicateKey]:
    """Every key that an object of the JSON text raw has more than once (the first `limit` of them, in text
    order), each at its second and later occurrences; [] when there is none or the text cannot be followed.

    The exact and slow pass (a token at a time, in Python), for a text that a cheap count found suspect: keys are
    compared decoded, as a JSON parser does ("a" and "\\u0061" are the same key), and "x" and "_x" are two keys.
    """
    try:
        text = _decoded(raw)
        found = _duplicates(text, root, limit)
    except Exception:  # an aid for the cheap count only; a text it cannot follow is no valid JSON
        return []
    places = _positions(text, (offset for _, _, offset, first in found for offset in (offset, first)))
    return [DuplicateKey(key, where, places[offset], places[first]) for key, where, offset, first in found]


def _duplicates(text: str, root: str, limit: int) -> list[tuple[str, str, int, int]]:
    """(key, path, offset, offset of its first occurrence) of each key given again, in text order."""
    match_token = _TOKEN.match
    found: list[tuple[str, str, int, int]] = []
    # per open container: its path, for an object the offsets of its keys (else None), for an array its next index
    paths_: list[str] = []
    keys_: list[dict[str, int] | None] = []
    index_: list[int] = []
    value_path = root  # the path of the next value: the root, or the element of the key just read
    at = 0
    while True:
        token = match_token(text, at)
        if token is None:
            return found
        at = token.end()
        kind = token.lastindex
        if kind is None or kind == _UNTERMINATED:
            return found
        if kind == _COLON:  # a key of the innermost object
            keys = keys_[-1] if keys_ else None
            if keys is None:
                return found  # a key outside an object: not JSON
            spelled = token.group(_STRING)
            key = json.loads(spelled) if "\\" in spelled else spelled[1:-1]
            start = token.start(_STRING)
            value_path = paths.child(paths_[-1], key)
            first = keys.get(key)
            if first is None:
                keys[key] = start
            else:
                found.append((key, value_path, start, first))
                if len(found) >= limit:
                    return found
            continue
        if keys_ and keys_[-1] is None and kind != _CLOSE:  # an item of the innermost array
            value_path = paths.item(paths_[-1], index_[-1])
            index_[-1] += 1
        if kind == _OPEN:
            paths_.append(value_path)
            is_object = token.group(_OPEN) == "{"
            keys_.append({} if is_object else None)
            index_.append(0)
        elif kind == _CLOSE:
            if not paths_:
                return found
            paths_.pop()
            keys_.pop()
            index_.pop()
            if not paths_:
                return found  # the end of the root value
