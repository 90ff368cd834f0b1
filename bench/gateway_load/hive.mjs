// Hive Gateway over a supergraph file, on one loopback port, one process (no cluster
// forks: the benchmark pins the gateway to one core).
//
//   node hive.mjs --supergraph FILE --port N [--dedup on|off] [--runtime stitching|router]
//
// --dedup toggles the HTTP executor's `deduplicateInflightRequests` (default on in Hive
// Gateway): identical subgraph requests in flight at the same time share one fetch. The
// other knob, `inboundInflightRequestDeduplication` (client requests, default off), is
// left at its default.
//
// --runtime router swaps in the Hive Router runtime (@graphql-hive/router-runtime): the
// Rust query planner through a native addon, with its own executor, as
// `unifiedGraphHandler` (the documented way to turn it on in code).
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createGatewayRuntime } from '@graphql-hive/gateway';

const { values } = parseArgs({
  options: {
    supergraph: { type: 'string' },
    port: { type: 'string' },
    dedup: { type: 'string', default: 'on' },
    runtime: { type: 'string', default: 'stitching' },
  },
});
if (
  !values.supergraph ||
  !values.port ||
  !['on', 'off'].includes(values.dedup) ||
  !['stitching', 'router'].includes(values.runtime)
) {
  console.error(
    'usage: node hive.mjs --supergraph FILE --port N [--dedup on|off] [--runtime stitching|router]',
  );
  process.exit(2);
}
const router =
  values.runtime === 'router'
    ? { unifiedGraphHandler: (await import('@graphql-hive/router-runtime')).unifiedGraphHandler }
    : {};

const gateway = createGatewayRuntime({
  supergraph: values.supergraph,
  transportEntries: {
    '*.http': { options: { deduplicateInflightRequests: values.dedup === 'on' } },
  },
  logging: false,
  graphiql: false,
  landingPage: false,
  ...router,
});
createServer(gateway).listen(Number(values.port), '127.0.0.1', () => {
  console.log(
    `hive gateway (${values.runtime} runtime, dedup ${values.dedup}) on http://127.0.0.1:${values.port}/graphql`,
  );
});
