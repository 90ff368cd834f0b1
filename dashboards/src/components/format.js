// Formatting shared by the pages. Amounts are the graph's decimal strings with their
// currency: they are shown as they are, and never added across currencies.
import {html} from "htl";

export function money(m) {
  return m ? `${m.amount} ${m.currency}` : "—";
}

// Several currencies side by side (CurrencyTotals.amounts), never summed.
export function amounts(list) {
  return list && list.length ? list.map(money).join(" + ") : "—";
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

export function day(iso) {
  return iso ? String(iso).slice(0, 10) : "—";
}

export function table(rows, columns) {
  if (!rows.length) return html`<p><em>None.</em></p>`;
  return html`<table>
    <thead><tr>${columns.map(([label]) => html`<th>${label}</th>`)}</tr></thead>
    <tbody>${rows.map((row) => html`<tr>${columns.map(([, cell]) => html`<td>${cell(row)}</td>`)}</tr>`)}</tbody>
  </table>`;
}

export const HEALTH_COLORS = {GREEN: "#2ca02c", AMBER: "#ff9f1c", RED: "#d62728", UNKNOWN: "#999999"};
export const HEALTHS = ["GREEN", "AMBER", "RED", "UNKNOWN"];
