"""`string.maketrans(a, b)` -> `str.maketrans(a, b)`; `from string import maketrans` ->
`maketrans = str.maketrans` (the `string` module lost the function in Python 3)."""

from fissix import fixer_base, pytree
from fissix.fixer_util import Name
from fissix.pgen2 import token


class FixMaketrans(fixer_base.BaseFix):
    BM_compatible = True
    PATTERN = """
    power< module='string' trailer< '.' attr='maketrans' > any* >
    |
    import_from< 'from' 'string' 'import' names=any >
    """

    def transform(self, node, results):
        if "module" in results:
            results["module"].replace(Name("str", prefix=results["module"].prefix))
            return None
        names = results["names"]
        if names.type != token.NAME or names.value != "maketrans":
            if "maketrans" in str(names):
                self.cannot_convert(node, "import maketrans on its own line, then port again")
            return None
        return pytree.Leaf(token.NAME, "maketrans = str.maketrans", prefix=node.prefix)
