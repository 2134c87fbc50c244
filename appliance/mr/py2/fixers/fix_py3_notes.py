"""Changes nothing: notes the lines whose meaning Python 3 changed in ways a tool cannot
decide, so the analyst checks them (they appear under the diff of `appliance job port`)."""

from fissix import fixer_base

_NOTES = {
    "/": "'/' divides exactly in Python 3; if both operands are integers and the 2013 job "
         "relied on the rounded-down result, write '//'",
    "/=": "'/=' divides exactly in Python 3; write '//=' for integer division",
    "encode": ".encode() gives bytes in Python 3, and str(bytes) is \"b'...'\": drop it "
              "where the job meant text",
    "BytesIO": "csv and text output need io.StringIO in Python 3, not io.BytesIO",
    "cmp": "sort(cmp=...) is gone: use key=functools.cmp_to_key(...)",
}


class FixPy3Notes(fixer_base.BaseFix):
    BM_compatible = False  # the leaf patterns below are simplest matched one node at a time
    PATTERN = """
    op='/' | op='/='
    | trailer< '.' op='encode' >
    | op='BytesIO'
    | argument< op='cmp' '=' any >
    """

    def start_tree(self, tree, filename):
        super().start_tree(tree, filename)
        self.exact_division = "division" in getattr(tree, "future_features", ())

    def transform(self, node, results):
        op = results["op"].value
        if op.startswith("/") and self.exact_division:
            return None
        self.warning(node, _NOTES[op])
        return None
