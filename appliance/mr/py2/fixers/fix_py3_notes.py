"""Changes nothing: notes the lines whose meaning Python 3 changed in ways a tool cannot
decide, so the analyst checks them (they appear under the diff of `appliance job port`;
'/' is `fix_division`'s)."""

from fissix import fixer_base

_NOTES = {
    "encode": ".encode() gives bytes in Python 3, and str(bytes) is \"b'...'\": drop it "
              "where the job meant text",
    "BytesIO": "csv and text output need io.StringIO in Python 3, not io.BytesIO",
    "cmp": "sort(cmp=...) is gone: use key=functools.cmp_to_key(...)",
}


class FixPy3Notes(fixer_base.BaseFix):
    BM_compatible = False  # the leaf patterns below are simplest matched one node at a time
    PATTERN = """
    trailer< '.' op='encode' >
    | op='BytesIO'
    | argument< op='cmp' '=' any >
    """

    def transform(self, node, results):
        self.warning(node, _NOTES[results["op"].value])
        return None
