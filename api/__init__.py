"""The JSON API for reviewers (django-ninja): one router per area, mounted by `main` at /api/.

An adapter like the console and the MCP bridge: endpoints parse and answer HTTP, the services and
selectors of the domain apps hold the rules."""
