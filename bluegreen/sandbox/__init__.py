"""The sandbox: AWS at a loopback endpoint (moto for the control plane, a data plane beside it)."""
