// Helpers shared by the Hubgraph notebooks: the gateway and token inputs, one call to the
// gateway, and the rendering of answers. Plain DOM and fetch, nothing from a CDN, so the
// built pages work with no network but the gateway's.

export const DEFAULT_GATEWAY = "http://127.0.0.1:4000/graphql";
const TOKEN_KEY = "hubgraph.token";

/** The gateway to start from: the page's ?gateway= parameter, else the local default. */
export function defaultGateway(search = globalThis.location?.search ?? "") {
  const gateway = new URLSearchParams(search).get("gateway");
  return gateway && gateway.trim() ? gateway.trim() : DEFAULT_GATEWAY;
}

/**
 * A labelled input for view(): its value is the input's, and it announces a new value
 * (an "input" event on itself) once typing pauses for `delay` ms, so a half-typed token
 * or URL sends nothing.
 */
export function textInput({name, label, type = "text", value = "", placeholder = "", delay = 300, onchange}) {
  const wrapper = document.createElement("div");
  wrapper.className = "hubgraph-input";
  const id = `hubgraph-input-${name}`;
  const caption = wrapper.appendChild(document.createElement("label"));
  caption.htmlFor = id;
  caption.textContent = label;
  const input = wrapper.appendChild(document.createElement("input"));
  input.id = id;
  input.name = name;
  input.type = type;
  input.value = value;
  input.placeholder = placeholder;
  input.autocomplete = "off";
  input.spellcheck = false;
  let timer;
  const announce = () => {
    clearTimeout(timer);
    timer = undefined;
    onchange?.(input.value);
    wrapper.dispatchEvent(new Event("input", {bubbles: true}));
  };
  input.addEventListener("input", (event) => {
    event.stopPropagation(); // the wrapper announces the value itself, once typing pauses
    clearTimeout(timer);
    timer = setTimeout(announce, delay);
  });
  input.addEventListener("change", () => timer !== undefined && announce());
  Object.defineProperty(wrapper, "value", {get: () => input.value.trim()});
  return wrapper;
}

/** A labelled checkbox for view(): its value is whether it is checked. */
export function checkbox({name, label, checked = false}) {
  const wrapper = document.createElement("div");
  wrapper.className = "hubgraph-input hubgraph-checkbox";
  const caption = wrapper.appendChild(document.createElement("label"));
  const input = caption.appendChild(document.createElement("input"));
  input.type = "checkbox";
  input.name = name;
  input.checked = checked;
  caption.appendChild(document.createTextNode(` ${label}`));
  input.addEventListener("input", (event) => event.stopPropagation());
  input.addEventListener("change", () => wrapper.dispatchEvent(new Event("input", {bubbles: true})));
  Object.defineProperty(wrapper, "value", {get: () => input.checked});
  return wrapper;
}

/** The gateway URL input (name="gateway"), starting from ?gateway= or the default. */
export function gatewayInput() {
  return textInput({name: "gateway", label: "Gateway URL", type: "url", value: defaultGateway(), delay: 500});
}

/** The token input (name="token", a password), never filled from the URL; the token is
 * remembered for this browser tab only (sessionStorage). */
export function tokenInput() {
  return textInput({
    name: "token",
    label: "Token",
    type: "password",
    value: readToken(),
    placeholder: "paste a bearer token (hubgraph up prints one)",
    onchange: writeToken
  });
}

function readToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return ""; // storage refused (sandboxed frame, privacy settings)
  }
}

function writeToken(token) {
  try {
    if (token.trim()) sessionStorage.setItem(TOKEN_KEY, token.trim());
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage refused: the token lives in the input only
  }
}

/** What a query cell shows until there is a token. */
export function tokenPrompt() {
  const p = document.createElement("p");
  p.className = "hubgraph-prompt";
  p.textContent = "Enter a token above to run this query.";
  return p;
}

/**
 * POSTs {query, variables} to the gateway. Never throws: the answer is {data, errors},
 * with errors from GraphQL, from HTTP or from the network alike, so a cell can show them.
 */
export async function graph(gateway, token, query, variables = {}) {
  let response;
  try {
    response = await fetch(gateway, {
      method: "POST",
      headers: {"content-type": "application/json", authorization: `Bearer ${token}`},
      body: JSON.stringify({query, variables})
    });
  } catch (error) {
    return {data: null, errors: [{message: `cannot reach ${gateway}: ${error.message} (is it up, and does it allow this page's origin, ${location.origin}, with --cors-origin?)`}]}; // prettier-ignore
  }
  let body;
  try {
    body = await response.json();
  } catch {
    return {data: null, errors: [{message: `${gateway} answered HTTP ${response.status} ${response.statusText}, not GraphQL`}]}; // prettier-ignore
  }
  const errors = Array.isArray(body?.errors) ? body.errors : [];
  if (!response.ok && !errors.length) errors.push({message: `HTTP ${response.status} ${response.statusText}`});
  return {data: body?.data ?? null, errors};
}

/** The errors of an answer, as a visible list (null when there are none). */
export function errorList(errors) {
  if (!errors?.length) return null;
  const box = document.createElement("div");
  box.className = "graphql-errors";
  box.setAttribute("role", "alert");
  const heading = box.appendChild(document.createElement("strong"));
  heading.textContent = errors.length === 1 ? "The gateway reported an error:" : `The gateway reported ${errors.length} errors:`;
  const list = box.appendChild(document.createElement("ul"));
  for (const error of errors) {
    const item = list.appendChild(document.createElement("li"));
    const code = error.extensions?.code;
    const path = Array.isArray(error.path) ? error.path.join(".") : null;
    item.textContent = [code && `[${code}]`, path && `at ${path}:`, error.message].filter(Boolean).join(" ");
  }
  return box;
}

/**
 * A result table: <table data-query=name>, one <tr class="result-row"> per row.
 * columns: [{label, value: (row) => string | Node}].
 */
export function resultTable(name, columns, rows) {
  const table = document.createElement("table");
  table.className = "result-table";
  table.dataset.query = name;
  const head = table.createTHead().insertRow();
  for (const {label} of columns) {
    const th = document.createElement("th");
    th.textContent = label;
    head.appendChild(th);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    tr.className = "result-row";
    for (const {value} of columns) {
      const cell = tr.insertCell();
      const content = value(row);
      if (content instanceof Node) cell.appendChild(content);
      else cell.textContent = content ?? "";
    }
  }
  if (!rows.length) {
    const cell = body.insertRow().insertCell();
    cell.colSpan = columns.length;
    cell.className = "result-empty";
    cell.textContent = "No rows.";
  }
  return table;
}

/**
 * Runs a query and renders its answer: errors first (visibly, with the data that could
 * still be given), then the table of rows(data), when there is data.
 */
export async function queryTable({gateway, token, name, query, variables, rows, columns, caption}) {
  if (!token) return tokenPrompt();
  const {data, errors} = await graph(gateway, token, query, variables);
  const figure = document.createElement("figure");
  figure.className = "hubgraph-result";
  figure.dataset.result = name;
  const shown = errorList(errors);
  if (shown) figure.appendChild(shown);
  if (data) {
    const list = rows(data) ?? [];
    if (caption) {
      const text = caption(data, list);
      if (text) figure.appendChild(document.createElement("figcaption")).textContent = text;
    }
    figure.appendChild(resultTable(name, columns, list));
  }
  return figure;
}

/** "114.24 EUR" (several currencies side by side), from a Money's amounts. */
export function money(value) {
  const amounts = value?.amounts ?? [];
  return amounts.length ? amounts.map(({amount, currency}) => `${amount} ${currency}`).join(" + ") : "–";
}
