"""Executing query plans: subgraph clients, the plan runner, response shaping."""
