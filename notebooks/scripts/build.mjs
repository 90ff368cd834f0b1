#!/usr/bin/env node
// `notebooks build` (notebook-kit 2.1.8's bin/build.js) for these notebooks: every
// src/*.html to dist/, with this directory's template and the offline plugin.
import {readdirSync} from "node:fs";
import {fileURLToPath} from "node:url";
import {config, observable} from "@observablehq/notebook-kit/vite";
import {build} from "vite";
import {offline} from "./offline.mjs";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const root = here("../src");
const notebooks = readdirSync(root).filter((name) => name.endsWith(".html")).map((name) => `${root}/${name}`);

await build({
  ...config(),
  plugins: [observable({template: here("../template.html")}), offline()],
  root,
  base: "./",
  logLevel: process.argv.includes("--quiet") ? "warn" : "info",
  build: {outDir: here("../dist"), emptyOutDir: true, rollupOptions: {input: notebooks}}
});
