"""Python 2's `/` between integers rounded down. Where the result must be an integer, an
index or slice (`s[n / 2]`) or a `range()` argument, `/` becomes `//`; elsewhere the
line is noted, since only the analyst knows whether the operands were integers."""

from fissix import fixer_base
from fissix.pygram import python_symbols as syms

_ARITHMETIC = {syms.term, syms.arith_expr, syms.factor, syms.atom, syms.shift_expr}
_RANGES = {"range", "xrange"}


def _needs_integer(leaf) -> bool:
    """Whether the expression holding `leaf` is an index, a slice bound or a range()
    argument (through arithmetic and parentheses only)."""
    node = leaf.parent
    while node is not None and node.type in _ARITHMETIC:
        node = node.parent
    if node is not None and node.type in (syms.subscript, syms.sliceop, syms.arglist):
        node = node.parent
    if node is None or node.type != syms.trailer:
        return False
    opener = node.children[0].value
    if opener == "[":
        return True
    before = node.prev_sibling
    return opener == "(" and before is not None and getattr(before, "value", None) in _RANGES


class FixDivision(fixer_base.BaseFix):
    BM_compatible = False  # a leaf pattern, matched one node at a time
    PATTERN = "op='/' | op='/='"

    def start_tree(self, tree, filename):
        super().start_tree(tree, filename)
        self.exact_division = "division" in getattr(tree, "future_features", ())

    def transform(self, node, results):
        if self.exact_division:
            return None
        if node.value == "/" and _needs_integer(node):
            node.value = "//"
            node.changed()
            return None
        self.warning(node, f"'{node.value}' divides exactly in Python 3; if both operands are "
                           f"integers and the 2013 job relied on the rounded-down result, "
                           f"write '{node.value[0]}/{node.value[1:]}'")
        return None
