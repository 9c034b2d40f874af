"""Operations: health (/livez, /readyz), Prometheus metrics (/metrics), structured logs.

The fourth audience after firms, technicians and API clients: the machines that run and watch
the hub (a load balancer, Prometheus, the log collector). ``logs`` imports neither Flask nor
the database, so gunicorn's master process can load it; the routes are in ``views``.
"""
