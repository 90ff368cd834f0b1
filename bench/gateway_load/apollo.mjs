// Apollo Gateway in Apollo Server's standalone HTTP server over a supergraph file.
//
//   node apollo.mjs --supergraph FILE --port N
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

// Apollo Gateway ships usage metrics to Apollo unless told not to; the benchmark sends
// nothing off this machine. Set before the gateway is loaded.
process.env.APOLLO_TELEMETRY_DISABLED = 'true';
const { ApolloGateway } = await import('@apollo/gateway');
const { ApolloServer } = await import('@apollo/server');
const { startStandaloneServer } = await import('@apollo/server/standalone');
const { ApolloServerPluginLandingPageDisabled } = await import('@apollo/server/plugin/disabled');

const { values } = parseArgs({
  options: { supergraph: { type: 'string' }, port: { type: 'string' } },
});
if (!values.supergraph || !values.port) {
  console.error('usage: node apollo.mjs --supergraph FILE --port N');
  process.exit(2);
}

const gateway = new ApolloGateway({ supergraphSdl: readFileSync(values.supergraph, 'utf8') });
const server = new ApolloServer({ gateway, plugins: [ApolloServerPluginLandingPageDisabled()] });
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(values.port), host: '127.0.0.1' },
});
console.log(`apollo gateway on ${url}`);
