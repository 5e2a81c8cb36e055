"""Cluster tests: node faults and least-privilege ACLs on a three-node SASL cluster of their own."""
