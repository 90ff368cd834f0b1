"""The ops now view: services and their health, open incidents (with the dev tasks they
block), access paths, TLS certificates from probe results and the change log. One
gateway query (ops, dev and core)."""

from __future__ import annotations

from typing import Any

from graph import emit, query

QUERY = """
query OpsNow {
  services(first: 500) {
    totalCount
    nodes {
      id
      name
      namespace
      domainSlug
      health
      healthChangedAt
      lastSeen
      domain { name }
      probes { id kind target enabled }
      recentResults {
        probeId ok detail checkedAt certDaysLeft certIssuer certSubject
      }
    }
  }
  incidents(open: true, first: 100) {
    totalCount
    nodes {
      id
      title
      summary
      severity
      status
      openedBy
      openedAt
      updatedAt
      resolvedAt
      services { name namespace health }
      blocksTasks { id title status }
      timeline { at author text }
    }
  }
  accessPaths {
    id name kind target authMethod status lastCheckedAt lastDetail
    service { name namespace }
  }
  changes(first: 50) {
    totalCount
    nodes {
      id summary changedAt changedBy rollbackPath
      service { name namespace }
    }
  }
}
"""


def certificates(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest result of each TLS probe: days left, issuer and subject."""
    rows = []
    for service in services:
        newest: dict[str, dict[str, Any]] = {}
        for result in service["recentResults"]:  # newest first
            newest.setdefault(result["probeId"], result)
        for probe in service["probes"]:
            if probe["kind"] != "TLS":
                continue
            result = newest.get(probe["id"])
            rows.append(
                {
                    "service": service["name"],
                    "namespace": service["namespace"],
                    "target": probe["target"],
                    "ok": None if result is None else result["ok"],
                    "daysLeft": None if result is None else result["certDaysLeft"],
                    "issuer": None if result is None else result["certIssuer"],
                    "subject": None if result is None else result["certSubject"],
                    "detail": "not probed yet" if result is None else result["detail"],
                    "checkedAt": None if result is None else result["checkedAt"],
                }
            )
    return rows


def main() -> None:
    data = query(QUERY)
    services = data["services"]["nodes"]
    namespaces: dict[str, list[dict[str, Any]]] = {}
    for service in services:
        namespaces.setdefault(service["namespace"], []).append(
            {
                "name": service["name"],
                "namespace": service["namespace"],
                "domain": service["domainSlug"],
                "domainName": service["domain"]["name"],
                "health": service["health"],
                "healthChangedAt": service["healthChangedAt"],
                "lastSeen": service["lastSeen"],
            }
        )
    emit(
        {
            "services": [s for group in namespaces.values() for s in group],
            "namespaces": [
                {"namespace": name, "services": group} for name, group in sorted(namespaces.items())
            ],
            "incidents": data["incidents"]["nodes"],
            "accessPaths": data["accessPaths"],
            "certificates": certificates(services),
            "changes": data["changes"]["nodes"],
            "changeCount": data["changes"]["totalCount"],
        }
    )


if __name__ == "__main__":
    main()
