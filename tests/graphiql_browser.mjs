// Drives headless Chromium through one GraphiQL page with no internet (issue 13).
//
// Usage: node tests/graphiql_browser.mjs '<json config>'; run by tests/test_graphiql_offline.py.
// Config: url (the /graphql page), query, expect (text the result must contain), chromium
// (executable), profile (an empty user-data dir), token (optional bearer), timeoutMs,
// modules (the node_modules holding playwright-core).
// Every request to a host other than 127.0.0.1 is aborted and listed in the report.
// Prints one JSON line {ok, blocked, loaded, result, error} and exits 0 when ok, else 1.

import { createRequire } from "node:module";
import path from "node:path";

const config = JSON.parse(process.argv[2]);
const requireFromAssets = createRequire(path.join(config.modules, "noop.js"));
const { chromium } = requireFromAssets("playwright-core");

const report = { ok: false, blocked: [], loaded: [], result: null, error: null };
let context = null;
try {
  context = await chromium.launchPersistentContext(config.profile, {
    executablePath: config.chromium,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    extraHTTPHeaders: config.token ? { authorization: config.token } : {},
    timeout: config.timeoutMs,
  });
  await context.route("**", (route) => {
    const requested = route.request().url();
    if (new URL(requested).hostname === "127.0.0.1") {
      report.loaded.push(requested);
      return route.continue();
    }
    report.blocked.push(requested);
    return route.abort("blockedbyclient");
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(config.timeoutMs);
  await page.goto(config.url, { waitUntil: "load" });
  await page.waitForSelector(".graphiql-container");
  // The query editor is a CodeMirror 5 instance; set its text as a user would type it.
  await page.waitForSelector(".graphiql-query-editor .CodeMirror");
  await page.evaluate((query) => {
    document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue(query);
  }, config.query);
  await page.click(".graphiql-execute-button");
  await page.waitForFunction(
    (expect) => (document.querySelector(".result-window")?.textContent ?? "").includes(expect),
    config.expect,
  );
  report.result = await page.evaluate(
    () => document.querySelector(".result-window").textContent,
  );
  report.ok = report.blocked.length === 0;
} catch (error) {
  report.error = String(error && error.stack ? error.stack : error);
} finally {
  if (context !== null) {
    await context.close().catch(() => {});
  }
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
