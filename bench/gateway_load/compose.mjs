// Subgraph SDLs in, supergraph SDL out, with The Guild's composer.
//
//   node compose.mjs < subgraphs.json > supergraph.graphql
//
// stdin: [{"name": "products", "url": "http://127.0.0.1:4001/graphql", "sdl": "..."}, ...]
// Composition errors go to stderr with exit status 1.
import { readFileSync } from 'node:fs';
import { composeServices } from '@theguild/federation-composition';
import { parse } from 'graphql';

const subgraphs = JSON.parse(readFileSync(0, 'utf8'));
const result = composeServices(
  subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })),
);
if (result.errors?.length) {
  for (const error of result.errors) console.error(error.message);
  process.exit(1);
}
process.stdout.write(result.supergraphSdl);
