"""Verification: testinfra checks of a lab's hosts, and the failover demo and scenario.

This package (with the providers and the runner) is allowed to cross machine boundaries.
"""
