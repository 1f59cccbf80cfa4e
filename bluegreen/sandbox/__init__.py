"""The sandbox: AWS at another endpoint, on this machine, for a first deploy without an account and for the tests.

    server.py     the moto server: start, readiness, stop
    record.py     where the running server is recorded (<state_dir>/sandbox.json), its credentials,
                  and the sandbox's own files under <state_dir>/sandbox/
    network.py    the sandbox's VPC and subnets (infra/sandbox), which real AWS environments bring themselves
    lifecycle.py  `bluegreen sandbox up`, `status` and `down`
    dataplane/    what AWS runs behind its API and moto does not: instances as processes, listeners as proxies

No adapter imports this package: the adapters run against AWS, wherever its
endpoint is. Only the composition root (bluegreen/factory.py) and the
`sandbox` commands know the sandbox exists.
"""
