"""The sandbox's data plane: what AWS runs behind its API and moto does not (instances, load balancers)."""
