"""The fin hub: budgets, commitments, costs and token spend, burn rate and runway."""
