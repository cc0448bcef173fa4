"""``python -m dptab_core jobs list|show|cancel|resume``: watch and steer background jobs.

Every action first calls :func:`~dptab_core.jobs.refresh`, so a job whose worker died reads
*failed* here (with its stage and log tail) and queued jobs that may run are started.
"""

from __future__ import annotations

import argparse
import json

from dptab_core.jobs import Job, JobStatus, JobStore, cancel, refresh, resume


def register(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("list", help="every job, newest first")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(run=_list)
    p = actions.add_parser("show", help="one job: state, stage, progress, privacy spend, error, log tail")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--lines", type=int, default=20, help="log lines to show (default 20)")
    p.set_defaults(run=_show)
    p = actions.add_parser("cancel", help="stop a queued or running job (its checkpoints are kept)")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--no-wait", action="store_true", help="ask the job to stop and return at once")
    p.set_defaults(run=_cancel)
    p = actions.add_parser("resume", help="run a failed or cancelled job again from its last checkpoint")
    p.add_argument("job_id", metavar="ID")
    p.set_defaults(run=_resume)


def _list(args: argparse.Namespace) -> int:
    store = JobStore()
    refresh(store)
    jobs, broken = store.list(), store.broken()
    if args.json:
        print(
            json.dumps(
                [job.status().to_dict() for job in jobs]
                + [{"id": job.id, "state": "broken", "error": problem} for job, problem in broken],
                indent=1,
            )
        )
        return 0
    if not jobs and not broken:
        print(f"no jobs in {store.root}")
        return 0
    print(f"{'ID':<22} {'STATE':<10} {'STAGE':<16} {'DONE':>5}  {'ε SPENT/PLANNED':<16} CREATED")
    for job in jobs:
        s = job.status()
        print(
            f"{s.id:<22} {s.state:<10} {(s.stage or '-'):<16} {s.fraction:>5.0%}  "
            f"{_epsilon(s):<16} {s.created_at[:19].replace('T', ' ')}"
        )
    for job, problem in broken:
        print(f"{job.id:<22} {'BROKEN':<10} {problem} — delete {job.dir} to remove it")
    return 0


def _show(args: argparse.Namespace) -> int:
    store = JobStore()
    refresh(store)
    job = store.get(args.job_id)
    status = job.status()
    tail = job.log_tail(args.lines)
    if args.json:
        print(json.dumps({"status": status.to_dict(), "spec": job.spec, "log_tail": tail}, indent=1))
        return 0
    print(_describe(job, status))
    if status.log_tail and status.log_tail != tail:
        print("log when the worker died:")
        print(_indent(status.log_tail))
    print(f"log ({job.log_path}), last {args.lines} lines:" if tail else f"log: (empty) {job.log_path}")
    if tail:
        print(_indent(tail))
    return 0


def _cancel(args: argparse.Namespace) -> int:
    store = JobStore()
    refresh(store)
    status = cancel(args.job_id, store=store, wait=not args.no_wait)
    if status.finished:
        print(f"job {status.id} {status.state}")
    else:
        print(f"job {status.id}: cancel requested; it stops at its next check")
    return 0


def _resume(args: argparse.Namespace) -> int:
    store = JobStore()
    status = resume(args.job_id, store=store).status()
    where = f"running (pid {status.pid})" if status.pid else "queued behind the running job"
    print(f"job {status.id} resumed: {where}")
    return 0


def _describe(job: Job, s: JobStatus) -> str:
    lines = [
        f"job {s.id}  ({job.spec.get('entry')})",
        f"state:    {s.state}" + (f" (attempt {s.attempt})" if s.attempt > 1 else ""),
        f"stage:    {s.stage or '-'}  ({s.fraction:.0%} of the job done)",
    ]
    if s.message:
        lines.append(f"message:  {s.message}")
    lines.append(f"privacy:  ε {_epsilon(s)} (spent / planned)")
    lines.append(f"created:  {s.created_at}")
    if s.started_at:
        lines.append(f"started:  {s.started_at}" + (f"  pid {s.pid}" if s.pid else ""))
    if s.finished_at:
        lines.append(f"finished: {s.finished_at}")
    if s.output_dir:
        lines.append(f"output:   {s.output_dir}")
    if s.error:
        lines.append(f"error:    {s.error}")
    return "\n".join(lines)


def _epsilon(s: JobStatus) -> str:
    spent = "-" if s.epsilon_spent is None else f"{s.epsilon_spent:.3g}"
    planned = "-" if s.epsilon_planned is None else f"{s.epsilon_planned:.3g}"
    return f"{spent} / {planned}"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
