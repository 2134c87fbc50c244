"""The reconciliation ledger (DESIGN 4.3): per submission_date, proof that nothing was lost.

Each stage counts on its own, so a loss between stages shows as a day that
does not balance:

- accepted: the spool writer, for every record answered 200 (`accepted.py`);
- converted / invalid: the converter, committed in the same checkpoint as the
  generation that holds them (`converted.py`);
- exported: the exporter, for every verified upload (`exported.py`);
- pending conversion: records in the spool past the converter's offsets
  (`pending.py`); pending export: records in local store files (`local.py`).

`reconcile.py` checks the two equations; `monitor.py` computes them in the server.
"""
