# Helper module of the slow SQL job.
import string

_TABLE = string.maketrans("\t\n,", "   ")

def clean_statement(sql):
    if isinstance(sql, unicode):
        sql = sql.strip()
    return sql.translate(_TABLE)
