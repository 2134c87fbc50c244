"""MapReduce over the store (DESIGN 3.6): the 2013 Telemetry job API and a local runner.

See docs/mapreduce.md. The public names::

    from appliance.mr import LocalRunner, JobError, JobCancelled, load_job, select_inputs
"""

from appliance.mr.inputs import InputFile, select_inputs
from appliance.mr.job import Job, JobError, load_job
from appliance.mr.keys import canonical_key
from appliance.mr.runner import JobCancelled, JobSummary, LocalRunner

__all__ = ["InputFile", "Job", "JobCancelled", "JobError", "JobSummary", "LocalRunner",
           "canonical_key", "load_job", "select_inputs"]
