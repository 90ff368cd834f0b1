"""Query planning: plan nodes (nodes), how they are built (planner), how they print (display)."""
