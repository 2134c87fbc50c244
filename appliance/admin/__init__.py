"""The admin API: stats, history, ledger, jobs and /metrics for holders of the token."""
