#!/usr/bin/env node
// Compose federation subgraphs into a supergraph with a standard composer.
//
//   stdin:  {"subgraphs": [{"name": "products", "url": "http://products.invalid/graphql", "sdl": "..."}]}
//   stdout: the supergraph SDL (exit 0)
//   stderr: composition errors as JSON, {"errors": [{"message": ..., "code": ...}]} (exit 1)
//
// Used by tests/gateway/fixtures/compose_all.py to regenerate the checked-in
// supergraph of every fixture set, and by the test that checks they are current.

import { parse } from "graphql";
import { composeServices, compositionHasErrors } from "@theguild/federation-composition";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function fail(errors) {
  process.stderr.write(JSON.stringify({ errors }, null, 2) + "\n");
  process.exit(1);
}

function describe(error) {
  return {
    message: error.message,
    code: error.extensions?.code ?? null,
  };
}

const input = JSON.parse(await readStdin());
if (!Array.isArray(input.subgraphs) || input.subgraphs.length === 0) {
  fail([{ message: 'expected {"subgraphs": [{"name", "url", "sdl"}, ...]} on stdin', code: null }]);
}

const services = [];
const parseErrors = [];
for (const { name, url, sdl } of input.subgraphs) {
  try {
    services.push({ name, url, typeDefs: parse(sdl) });
  } catch (error) {
    parseErrors.push({ message: `[${name}] ${error.message}`, code: "SDL_PARSE_ERROR" });
  }
}
if (parseErrors.length) fail(parseErrors);

const result = composeServices(services);
if (compositionHasErrors(result)) fail(result.errors.map(describe));

process.stdout.write(result.supergraphSdl.endsWith("\n") ? result.supergraphSdl : result.supergraphSdl + "\n");
