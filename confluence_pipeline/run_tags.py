"""The tags on this project's Dagster runs, named once for the definitions, the run queue
(`run_queue.py`, which must not import the definitions) and the deployment files."""

# On every sync run; the run queue (deploy/dagster.yaml) keeps one run per value in progress. Set
# as the job's tags too: a launch from the UI (GraphQL) copies those, not run_tags, onto the run.
SYNC_TAG = "confluence_pipeline/sync"
# On every run of a named site: which site the run syncs.
SITE_TAG = "confluence_pipeline/site"
# What a run of Dagster's implicit asset job does, in words (its job name cannot say it).
JOB_TAG = "confluence_pipeline/job"
