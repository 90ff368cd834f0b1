// The ops now view, shared by / and /ops.
import * as Plot from "@observablehq/plot";
import {html} from "htl";
import {HEALTH_COLORS, HEALTHS, day, table, when} from "./format.js";

export function serviceGrid(ops) {
  return html`<div class="service-namespaces">${ops.namespaces.map(
    (group) => html`<section class="service-namespace" data-namespace=${group.namespace}>
      <h3>${group.namespace}</h3>
      <div class="service-grid">${group.services.map((s) => {
        const health = HEALTHS.includes(s.health) ? s.health : "UNKNOWN";
        return html`<div class="service-tile" data-health=${health} data-service=${s.name}
          title=${`${s.name}: ${health} since ${when(s.healthChangedAt)}`}>
          <div class="name">${s.name}</div>
          <div class="meta">${health} · ${s.domain}</div>
          <div class="meta">last seen ${when(s.lastSeen)}</div>
        </div>`;
      })}</div>
    </section>`
  )}</div>`;
}

export function healthCounts(ops) {
  return HEALTHS.map((h) => ({health: h, count: ops.services.filter((s) => s.health === h).length}));
}

export function incidents(ops) {
  if (!ops.incidents.length) return html`<p><em>No open incidents.</em></p>`;
  return html`<div>${ops.incidents.map(
    (i) => html`<article class="incident-entry" data-severity=${i.severity} data-status=${i.status}>
      <h3>${i.title}</h3>
      <p><span class="tag">${i.severity}</span> <span class="tag">${i.status}</span>
        opened ${when(i.openedAt)}${i.openedBy ? ` by ${i.openedBy}` : ""}, updated ${when(i.updatedAt)}</p>
      <p>Affects: ${i.services.map((s) => `${s.namespace}/${s.name} (${s.health})`).join(", ") || "—"}</p>
      ${i.blocksTasks.length ? html`<p>Blocks: ${i.blocksTasks.map((t) => `${t.id} ${t.title} (${t.status})`).join("; ")}</p>` : ""}
      <ol>${i.timeline.map((e) => html`<li>${when(e.at)} · ${e.author}: ${e.text}</li>`)}</ol>
    </article>`
  )}</div>`;
}

export function incidentTimeline(ops, width) {
  const entries = ops.incidents.flatMap((i) => i.timeline.map((e) => ({...e, at: new Date(e.at), incident: i.title, severity: i.severity})));
  if (!entries.length) return html``;
  const now = new Date(Math.max(...entries.map((e) => +e.at), ...ops.incidents.map((i) => +new Date(i.updatedAt))));
  return Plot.plot({
    width,
    height: 60 + 40 * ops.incidents.length,
    marginLeft: 10,
    x: {type: "utc", label: null},
    y: {axis: null},
    marks: [
      Plot.ruleY(ops.incidents, {y: "title", x1: (i) => new Date(i.openedAt), x2: now, stroke: "#d62728", strokeWidth: 3, strokeOpacity: 0.4}),
      Plot.dot(entries, {x: "at", y: "incident", fill: "#d62728", r: 5, tip: true, title: (e) => `${when(e.at)} ${e.author}: ${e.text}`}),
      Plot.text(ops.incidents, {y: "title", x: (i) => new Date(i.openedAt), text: "title", dy: -12, textAnchor: "start"})
    ]
  });
}

export function accessPathMap(ops, width) {
  if (!ops.accessPaths.length) return html`<p><em>No access paths.</em></p>`;
  const rows = ops.accessPaths.map((p) => ({...p, to: p.service ? `${p.service.namespace}/${p.service.name}` : "(no service)"}));
  return Plot.plot({
    width,
    marginLeft: 140,
    marginBottom: 40,
    padding: 0.05,
    x: {label: "kind", domain: ["HTTP", "K8S", "SSH"]},
    y: {label: null},
    color: {legend: true, domain: ["OK", "FAILING", "UNKNOWN"], range: ["#2ca02c", "#d62728", "#bbbbbb"]},
    marks: [
      Plot.cell(rows, {x: "kind", y: "to", fill: "status", inset: 1, tip: true,
        title: (p) => `${p.name}\n${p.target}\nauth: ${p.authMethod}\nstatus: ${p.status}${p.lastCheckedAt ? ` (checked ${when(p.lastCheckedAt)})` : ""}`}),
      Plot.text(rows, {x: "kind", y: "to", text: "name", fill: "black"})
    ]
  });
}

export function accessPathTable(ops) {
  return table(ops.accessPaths, [
    ["Name", (p) => p.name],
    ["Kind", (p) => p.kind],
    ["Target", (p) => p.target],
    ["Auth", (p) => p.authMethod],
    ["Status", (p) => p.status],
    ["Service", (p) => (p.service ? `${p.service.namespace}/${p.service.name}` : "—")],
    ["Last checked", (p) => when(p.lastCheckedAt)]
  ]);
}

export function certificates(ops) {
  return table(ops.certificates, [
    ["Service", (c) => `${c.namespace}/${c.service}`],
    ["Target", (c) => c.target],
    ["Probe", (c) => (c.ok === null ? "not probed yet" : c.ok ? "ok" : "failing")],
    ["Days left", (c) => (c.daysLeft ?? "not reported")],
    ["Subject", (c) => c.subject ?? "—"],
    ["Issuer", (c) => c.issuer ?? "—"],
    ["Checked", (c) => when(c.checkedAt)]
  ]);
}

function notConfigured(what, health) {
  return html`<p class="not-configured" data-configured="false">${what}: not configured. ${health.message}</p>`;
}

export function cluster(platform) {
  const c = platform.cluster;
  if (!c.configured) return notConfigured("Cluster health", c);
  return html`<div data-configured="true">
    <p><span class="tag">${c.status}</span> ${c.summary} (checked ${when(c.checkedAt)})</p>
    ${table(c.nodes, [["Node", (n) => n.name], ["Ready", (n) => (n.ready ? "yes" : "no")], ["Reason", (n) => n.reason ?? ""]])}
    <h4>Pods not running</h4>
    ${table(c.podsNotRunning, [["Pod", (p) => `${p.namespace}/${p.name}`], ["Phase", (p) => p.phase], ["Reason", (p) => p.reason], ["Restarts", (p) => p.restarts]])}
    <h4>Certificates close to expiry${c.certManagerInstalled ? "" : " (cert-manager not installed)"}</h4>
    ${table(c.expiringCertificates, [["Certificate", (x) => `${x.namespace}/${x.name}`], ["Ready", (x) => (x.ready ? "yes" : "no")], ["Not after", (x) => when(x.notAfter)], ["Days left", (x) => x.daysLeft ?? "—"], ["Reason", (x) => x.reason ?? ""]])}
  </div>`;
}

export function storage(platform) {
  const s = platform.storage;
  if (!s.configured) return notConfigured("Storage health", s);
  return html`<div data-configured="true">
    <p><span class="tag">${s.status}</span> ${s.summary} (checked ${when(s.checkedAt)});
      ${s.degradedVolumes} degraded, ${s.faultedVolumes} faulted volumes</p>
    ${table(s.volumes, [["Volume", (v) => v.name], ["State", (v) => v.state], ["Robustness", (v) => v.robustness], ["Replicas", (v) => `${v.replicasHealthy ?? "?"}/${v.replicasExpected}`], ["PVC", (v) => v.pvc ?? "—"]])}
    <h4>Latest backups</h4>
    ${table(s.latestBackups, [["Backup", (b) => b.name], ["Source", (b) => b.source], ["Subject", (b) => b.subject ?? "—"], ["Phase", (b) => b.phase], ["Completed", (b) => when(b.completedAt)], ["OK", (b) => (b.ok ? "yes" : "no")]])}
  </div>`;
}

export function changes(ops) {
  return table(ops.changes, [
    ["When", (c) => when(c.changedAt)],
    ["Service", (c) => (c.service ? `${c.service.namespace}/${c.service.name}` : "—")],
    ["Change", (c) => c.summary.split("\n")[0]],
    ["By", (c) => c.changedBy],
    ["Rollback", (c) => (c.rollbackPath ? html`<code>${c.rollbackPath}</code>` : "—")]
  ]);
}

export function changesChart(ops, width) {
  if (!ops.changes.length) return html``;
  const rows = ops.changes.map((c) => ({...c, at: new Date(c.changedAt), to: c.service ? c.service.name : "(no service)"}));
  return Plot.plot({
    width,
    height: 200,
    marginLeft: 100,
    x: {type: "utc", label: null},
    y: {label: null},
    marks: [Plot.dot(rows, {x: "at", y: "to", fill: "steelblue", r: 4, tip: true, title: (c) => `${when(c.changedAt)} ${c.changedBy}\n${c.summary}`})]
  });
}

export {day};
