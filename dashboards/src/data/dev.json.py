"""Dev: workplans and their progress by phase, and the blocked tasks with the ops
incidents blocking them. One gateway query (dev, with ops for the incidents)."""

from __future__ import annotations

from typing import Any

from graph import emit, query

QUERY = """
query Dev {
  workplans(first: 500) {
    totalCount
    nodes {
      id title status domainSlug owner repo updated
      phases { number title goal tasks { id status } }
      tasks { id status phaseNumber }
    }
  }
  tasks(blocked: true, first: 500) {
    totalCount
    nodes {
      id title status priority blockedReason dependsOn
      workplan { id title domainSlug }
      blockingIncidents { id title severity status openedAt services { name namespace } }
    }
  }
}
"""

STATUSES = ["DONE", "IN_PROGRESS", "TODO", "BLOCKED", "CANCELLED"]


def counts(tasks: list[dict[str, Any]]) -> dict[str, int]:
    found = {status: 0 for status in STATUSES}
    for task in tasks:
        found[task["status"]] = found.get(task["status"], 0) + 1
    return found


def progress(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per phase (and one for tasks outside any phase) and task status."""
    rows = []
    phases = [(p["number"], p["title"], p["tasks"]) for p in plan["phases"]]
    loose = [t for t in plan["tasks"] if t["phaseNumber"] is None]
    if loose:
        phases.append((None, "no phase", loose))
    for number, title, tasks in phases:
        label = title if number is None else f"{number}. {title}"
        for status, count in counts(tasks).items():
            rows.append(
                {
                    "workplan": plan["id"],
                    "phase": number,
                    "label": label,
                    "status": status,
                    "count": count,
                    "total": len(tasks),
                }
            )
    return rows


def main() -> None:
    data = query(QUERY)
    plans = data["workplans"]["nodes"]
    workplans = []
    for plan in plans:
        tally = counts(plan["tasks"])
        total = len(plan["tasks"])
        done = tally["DONE"] + tally["CANCELLED"]
        workplans.append(
            {
                "id": plan["id"],
                "title": plan["title"],
                "status": plan["status"],
                "domain": plan["domainSlug"],
                "owner": plan["owner"],
                "repo": plan["repo"],
                "updated": plan["updated"],
                "tasks": total,
                "counts": tally,
                "percentDone": round(100 * done / total, 1) if total else None,
                "phases": [
                    {"number": p["number"], "title": p["title"], "goal": p["goal"]}
                    for p in plan["phases"]
                ],
                "progress": progress(plan),
            }
        )
    emit(
        {
            "workplans": workplans,
            "blockedTasks": data["tasks"]["nodes"],
            "blockedCount": data["tasks"]["totalCount"],
        }
    )


if __name__ == "__main__":
    main()
