"""Adapters: the only code that talks to AWS, tools and processes."""
