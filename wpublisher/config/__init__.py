"""The YAML configuration: agents.yml, sites.yml, and the optional system.yml and api_keys.txt.

`schema` parses and validates the files into immutable objects; `services` holds the running config,
syncs it into the database and hot-reloads it; `watcher` tells `services` when a file changes.
"""
