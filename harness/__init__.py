"""Aethel Synchrony verification harness: generation, checking, campaigns, benchmarks, reports."""
