"""Benchmarks that hold socdesk to its speed targets. Each is one command and prints its figures:

    uv run python -m bench.dashboard   # dashboard, queue and client pages on 100,000 tickets
    uv run python -m bench.import      # cases/s imported through a real worker, next to raw asyncpg
    uv run python -m bench.webhook     # webhook ack latency at a fixed rate, event -> dashboard latency

They use the PostgreSQL and Redis of DATABASE_URL / REDIS_URL when set (loopback only), else
embedded ones, always in a database of their own that they drop at the end. Not tests.
"""
