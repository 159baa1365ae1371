"""YAML loading with limits: a hostile or broken file fails fast with one line, never hangs.

``yaml.safe_load`` builds shared objects for aliases, so a "billion laughs" file parses quickly but
every later walk over the data (``${ENV}`` substitution, validation) expands it exponentially.
``load_yaml_limited`` composes the node graph first and refuses, before building any Python
object, a file with more than ``max_aliases`` aliases, more than ``max_nodes`` nodes once every
alias is expanded, or nesting deeper than ``max_depth``.
"""

from __future__ import annotations

import yaml

__all__ = ["YamlLimitError", "load_yaml_limited"]

MAX_ALIASES = 1000
MAX_NODES = 200_000
MAX_DEPTH = 64


class YamlLimitError(ValueError):
    """The document is over one of the limits (aliases, expanded nodes, depth)."""


def _expanded_nodes(root: yaml.Node, *, max_nodes: int, max_depth: int) -> int:
    """Nodes of ``root`` with aliases expanded; memoised per node, so linear in the graph."""
    sizes: dict[int, int] = {}
    # iterative post-order walk: (node, depth, children_done)
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > max_depth:
            raise YamlLimitError(f"nested deeper than {max_depth} levels")
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            sizes[id(node)] = 1
            continue
        if not done:
            stack.append((node, depth, True))
            stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)
            continue
        total = 1 + sum(sizes.get(id(c), 0) for c in children)
        if total > max_nodes:
            raise YamlLimitError(f"more than {max_nodes} values once aliases are expanded")
        sizes[id(node)] = total
    return sizes.get(id(root), 1)


def load_yaml_limited(
    text: str,
    *,
    max_aliases: int = MAX_ALIASES,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
) -> object:
    """``yaml.safe_load(text)`` within limits. Raises ``yaml.YAMLError`` for malformed YAML and
    ``YamlLimitError`` (a ``ValueError``) for a document over a limit or with a bad value (an
    impossible date, a key that cannot be a dict key)."""
    loader = yaml.SafeLoader(text)
    try:
        aliases = 0
        compose_node = loader.compose_node

        def counting_compose(parent, index):  # type: ignore[no-untyped-def]
            nonlocal aliases
            if loader.check_event(yaml.AliasEvent):
                aliases += 1
                if aliases > max_aliases:
                    raise YamlLimitError(f"more than {max_aliases} aliases (*name)")
            return compose_node(parent, index)

        loader.compose_node = counting_compose  # type: ignore[method-assign]
        # the scanner slows down quadratically with nesting: stop it at the limit
        flow_start, add_indent = loader.fetch_flow_collection_start, loader.add_indent

        def limited_flow_start(token_class):  # type: ignore[no-untyped-def]
            flow_start(token_class)
            if loader.flow_level + len(loader.indents) > max_depth:
                raise YamlLimitError(f"nested deeper than {max_depth} levels")

        def limited_indent(column):  # type: ignore[no-untyped-def]
            added = add_indent(column)
            if loader.flow_level + len(loader.indents) > max_depth:
                raise YamlLimitError(f"nested deeper than {max_depth} levels")
            return added

        loader.fetch_flow_collection_start = limited_flow_start  # type: ignore[method-assign]
        loader.add_indent = limited_indent  # type: ignore[method-assign]
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlLimitError(f"nested deeper than {max_depth} levels") from None
        if node is None:
            return None
        _expanded_nodes(node, max_nodes=max_nodes, max_depth=max_depth)
        try:
            return loader.construct_document(node)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. 2024-13-40, huge exponents
            raise YamlLimitError(f"bad value ({exc})") from None
    finally:
        loader.dispose()
