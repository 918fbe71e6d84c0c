#!/usr/bin/env bash
# Starts the local PostgreSQL and MariaDB used by the tests if they are not answering, and waits
# until both do. The commands are those of the development and CI machines (../shared/TOOLCHAIN.md).
set -euo pipefail

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
mariadb_up() { mariadb-admin ping -h 127.0.0.1 -P 3306 -u root --silent >/dev/null 2>&1; }

if ! postgres_up; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! mariadb_up; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
for _ in $(seq 1 60); do
  if postgres_up && mariadb_up; then
    echo "PostgreSQL and MariaDB are up"
    exit 0
  fi
  sleep 1
done
echo "PostgreSQL or MariaDB did not start within 60 s" >&2
exit 1
