// Hive Gateway over a supergraph file, on one loopback port, one process (no cluster
// forks: the benchmark pins the gateway to one core).
//
//   node hive.mjs --supergraph FILE --port N [--dedup on|off]
//
// --dedup toggles the HTTP executor's `deduplicateInflightRequests` (default on in Hive
// Gateway): identical subgraph requests in flight at the same time share one fetch. The
// other knob, `inboundInflightRequestDeduplication` (client requests, default off), is
// left at its default.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createGatewayRuntime } from '@graphql-hive/gateway';

const { values } = parseArgs({
  options: {
    supergraph: { type: 'string' },
    port: { type: 'string' },
    dedup: { type: 'string', default: 'on' },
  },
});
if (!values.supergraph || !values.port || !['on', 'off'].includes(values.dedup)) {
  console.error('usage: node hive.mjs --supergraph FILE --port N [--dedup on|off]');
  process.exit(2);
}

const gateway = createGatewayRuntime({
  supergraph: values.supergraph,
  transportEntries: {
    '*.http': { options: { deduplicateInflightRequests: values.dedup === 'on' } },
  },
  logging: false,
  graphiql: false,
  landingPage: false,
});
createServer(gateway).listen(Number(values.port), '127.0.0.1', () => {
  console.log(`hive gateway (dedup ${values.dedup}) on http://127.0.0.1:${values.port}/graphql`);
});
