"""Webhooks (Standard Webhooks 1.0): partners told of alerts, from a durable outbox."""
