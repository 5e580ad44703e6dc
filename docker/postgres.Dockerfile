# PostgreSQL 17 with the same extensions the local services script installs
# (Debian 13 packages: TimescaleDB Apache-2 edition, hll, tdigest, pgvector).
FROM debian:trixie-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      postgresql-17 postgresql-17-timescaledb postgresql-17-hll postgresql-17-tdigest postgresql-17-pgvector \
 && rm -rf /var/lib/apt/lists/*

COPY docker/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
RUN chmod +x /usr/local/bin/postgres-entrypoint.sh
USER postgres
ENV PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
