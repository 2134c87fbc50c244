"""The names job scripts are loaded under (`appliance.mr.job.module_name`), known to the
Python 2 detector too (it finds a job's own frames in a traceback by them)."""

JOB_MODULE_PREFIX = "appliance_job_"
