"""The sandbox's data plane: what AWS runs and moto does not.

Instances run the release baked into their AMI as real local processes
(`instances.py`, from what the sandbox bake recorded in `imagestore.py` and
the launch template's user data, `userdata.py`); `daemon.py` runs the loop
that keeps them, and the load balancers, in step with the control plane.
"""
