"""The core hub: the generic hub-core domain (CUST-WP-0025 Phase 2), served as the `core` subgraph."""
