"""bluegreen: blue/green and canary deployments with no dropped request.

The pipeline, in one line: observe -> decide -> act -> record.
`machine` decides (pure), `runner` acts through the `ports` and records
every step in the store before and after, `engine` holds the operator's
verbs, `cli` parses and prints, `factory` wires adapters to config.
"""
