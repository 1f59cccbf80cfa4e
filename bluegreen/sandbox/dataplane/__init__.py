"""The sandbox's data plane: what AWS runs behind its API and moto does not.

Instances run the release baked into their AMI as real local processes
(`instances.py`, from what the sandbox bake recorded in `imagestore.py` and
the launch template's user data, `userdata.py`); each ALB listener is a real
proxy forwarding by the API's weights, with measured target health and
published metrics (`alb.py`, `health.py`, `metrics.py`); `front.py` answers
what moto cannot be told in front of it; `daemon.py` runs the loop that keeps
all of it in step with the control plane.
"""
