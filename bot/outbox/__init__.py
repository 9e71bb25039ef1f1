"""The outbox: every message we send is a database row first, then an arq job.

`api` is what the dispatcher and the workers call; `models` holds the tables;
`serialize` turns abstract replies into JSON and back; `limits` is the Redis rate
limiter shared by all worker processes.
"""
