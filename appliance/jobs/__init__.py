"""Jobs in the server: a queue of MapReduce jobs run in worker subprocesses (DESIGN 3.6).

`JobPool` (pool.py) is what the admin API drives; each job lives in its own
directory (jobdir.py) and runs in `appliance _job-worker` (worker.py).
"""
