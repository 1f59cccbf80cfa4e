"""The sandbox: AWS at a loopback endpoint, control plane (moto) and data plane (processes and proxies)."""
