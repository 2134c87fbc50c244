"""`s.translate(None, chars)` (Python 2: delete `chars`) -> `s.translate(str.maketrans('', '',
chars))`; Python 3's `str.translate` takes one table."""

from fissix import fixer_base
from fissix.fixer_util import ArgList, Call, Name, String


class FixTranslateDelete(fixer_base.BaseFix):
    BM_compatible = True
    PATTERN = """
    power< any+ trailer< '.' 'translate' >
           call=trailer< '(' arglist< 'None' ',' chars=any > ')' > any* >
    """

    def transform(self, node, results):
        chars = results["chars"].clone()
        chars.prefix = " "
        table = Call(Name("str.maketrans"),
                     [String("''"), String(","), String(" ''"), String(","), chars])
        results["call"].replace(ArgList([table]))
        return None
