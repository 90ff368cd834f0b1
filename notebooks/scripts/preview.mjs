#!/usr/bin/env node
// `notebooks preview` (notebook-kit 2.1.8's bin/preview.js) for these notebooks, which also
// takes --host and --port: a live-reloading server of src/.
//   npm run preview -- --host 127.0.0.1 --port 4590
import {parseArgs} from "node:util";
import {fileURLToPath} from "node:url";
import {config, observable} from "@observablehq/notebook-kit/vite";
import {createServer} from "vite";
import {offline} from "./offline.mjs";

const {values} = parseArgs({
  options: {
    host: {type: "string", default: "127.0.0.1"},
    port: {type: "string", default: "4590"},
    base: {type: "string", default: "/"},
    help: {type: "boolean", short: "h"}
  }
});
if (values.help) {
  console.log(`usage: npm run preview -- [--host <host>] [--port <port>] [--base <path>]

  --host <host>   address to listen on; defaults to 127.0.0.1
  --port <port>   port to listen on (fails if taken); defaults to 4590
  --base <path>   serving base path; defaults to /
  -h, --help      show this message`);
  process.exit(0);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`--port: not a port: ${values.port}`);
  process.exit(2);
}
const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const server = await createServer({
  ...config(),
  plugins: [observable({template: here("../template.html")}), offline()],
  root: here("../src"),
  base: values.base,
  server: {host: values.host, port, strictPort: true}
});
await server.listen();
server.printUrls();
