"""The ops hub: services and their health, incidents, runbooks, access paths, changes."""
