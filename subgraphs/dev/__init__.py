"""The dev hub: workplans, phases, tasks, decisions, deployments and SBOMs."""
