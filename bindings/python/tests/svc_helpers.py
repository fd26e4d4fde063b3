"""Helpers the service-layer tests share (test_services.py, test_spot.py)."""

from __future__ import annotations

import threading

import ringlink

T = 10000  # ms
ANY = "tcp://127.0.0.1:*"


def registry(ctx):
    return ringlink.Registry(ctx, ANY, ANY)


def wait_count(d, service, n):
    ev = threading.Event()
    d.on_change(lambda name, count: count >= n and name == service and ev.set())
    try:
        if d.provider_count(service) < n:
            assert ev.wait(T / 1000), f"{service}: fewer than {n} providers"
    finally:
        d.on_change(None)
    return d.provider_count(service)
