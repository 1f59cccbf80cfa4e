"""bluegreen: blue/green and canary deployments with no dropped request.

The pipeline (bake -> provision -> healthy -> smoke -> shift -> observe ->
gate -> retire, and the abort path) is told once, in bluegreen/ports.py.
`planner` orders the steps, `machine` decides (pure), `runner` acts through
the `ports` and records every step in the store before and after, `engine`
holds the operator's verbs, `cli` parses and prints, `factory` wires adapters
to config (and alone knows the sandbox, bluegreen/sandbox/).
"""
