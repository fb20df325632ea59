"""The customers' HTTP API (issue 17): send, balance; on its own listener, the same
pipeline and journal as SMPP submits."""
