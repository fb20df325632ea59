"""The operations surface: the admin HTTP API (loopback + bearer token), Prometheus
metrics, explain.  Built and started by the app; nothing below the app imports it
(config reads only its settings)."""
