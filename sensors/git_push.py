"""The git-push sensor: every new commit on the models branch becomes per-model runs."""

import dagster as dg

from assets.jobs import model_job
from assets.names import (
    GIT_PUSH_SENSOR,
    MODEL_JOB,
    MODELS_PARTITIONS_NAME,
    TAG_AUTHOR,
    TAG_COMMIT,
    TAG_SUBJECT,
)
from assets.partitions import models_partitions
from llm_platform.gitops import ChangeSet
from resources.git_repo import ModelsRepoResource

TAG_VALUE_MAX = 200


def _tag(value: str) -> str:
    value = " ".join(value.split())
    return value if len(value) <= TAG_VALUE_MAX else value[: TAG_VALUE_MAX - 1] + "…"


def partition_changes(
    instance: dg.DagsterInstance, changes: ChangeSet
) -> tuple[list[str], list[str]]:
    """Partition keys to add and to delete so the partitions mirror the models at head.

    A full rescan compares against every existing partition; an incremental tick only looks at
    the models the diff names, so its cost does not grow with the size of the repo.
    """
    if changes.full_rescan:
        existing = set(instance.get_dynamic_partitions(MODELS_PARTITIONS_NAME))
        present = changes.present
        return sorted(present - existing), sorted(existing - present)
    to_add = sorted(
        m for m in changes.affected if not instance.has_dynamic_partition(MODELS_PARTITIONS_NAME, m)
    )
    to_delete = sorted(
        m for m in changes.deleted if instance.has_dynamic_partition(MODELS_PARTITIONS_NAME, m)
    )
    return to_add, to_delete


def resume_point(instance: dg.DagsterInstance) -> str | None:
    """The commit of the newest ``model_job`` run in the instance, or None.

    Where a tick without a cursor resumes: the runs of every earlier commit are in the instance
    (``make dev`` after ``make demo``, whose ticks were evaluated in its own process; a sensor
    reset). A commit that is not an ancestor of head still gives a full rescan.
    """
    records = instance.get_run_records(filters=dg.RunsFilter(job_name=MODEL_JOB), limit=1)
    return records[0].dagster_run.tags.get(TAG_COMMIT) if records else None


@dg.sensor(
    name=GIT_PUSH_SENSOR,
    job=model_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches the models branch. Cursor = last processed commit. Each push adds "
    "partitions for new models, removes deleted ones, and requests one run per changed model "
    "(run key <model>:<sha>). A rewritten history (force-push) triggers a full rescan. Without "
    "a cursor it resumes from the commit of the newest model_job run (none: full rescan).",
)
def git_push_sensor(
    context: dg.SensorEvaluationContext, models_repo: ModelsRepoResource
) -> dg.SensorResult | dg.SkipReason:
    """Turn new commits on the models branch into one run per changed model."""
    repo = models_repo.repo()
    # A git failure (repo missing, branch gone) fails the tick visibly in the UI and leaves the
    # cursor where it was; GitError names the location and the git command.
    repo.sync()
    head = repo.head()
    since = context.cursor or resume_point(context.instance)
    if since == head:
        return (
            dg.SensorResult(cursor=head)
            if context.cursor != head
            else dg.SkipReason(f"no new commits on {models_repo.branch} (head {head[:12]})")
        )
    if since and not context.cursor:
        context.log.info(f"no cursor: resuming from {since[:12]}, the newest model_job run's")
    changes = repo.changes(since, head)
    if changes.full_rescan and since:
        context.log.warning(f"full rescan: {changes.reason}")
    to_add, to_delete = partition_changes(context.instance, changes)
    info = repo.commit_info(head)
    tags = {TAG_COMMIT: head, TAG_AUTHOR: _tag(info.author), TAG_SUBJECT: _tag(info.subject)}
    affected = sorted(changes.affected)
    context.log.info(
        f"{head[:12]} ({changes.reason}): {len(affected)} model(s) to run, "
        f"+{len(to_add)}/-{len(to_delete)} partitions"
    )
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if to_add:
        requests.append(models_partitions.build_add_request(to_add))
    if to_delete:
        requests.append(models_partitions.build_delete_request(to_delete))
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"{m}:{head}", partition_key=m, tags=tags) for m in affected
        ],
        dynamic_partitions_requests=requests,
        cursor=head,
    )
