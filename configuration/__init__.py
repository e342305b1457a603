"""Reloading the YAML configuration (agents.yml, sites.yml, system.yml, api_keys.txt) into the database.

`core.config` parses the files into immutable objects and holds the running one; this package sits above
the domain apps it syncs: `reload` reads, syncs and swaps a new config in, `editor` saves a file edited in
the console and reloads, `watcher` reloads when a file changes. Only entry points import it.
"""
