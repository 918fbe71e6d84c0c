#!/usr/bin/env bash
# Installs what the ODBC target needs on Debian (the development and CI machines): the driver
# manager with its headers (unixODBC; `odbc-api` links libodbc) and the drivers the tests use:
# PostgreSQL's (psqlODBC), MariaDB's (Connector/ODBC) and SQLite's. Does nothing when they are in.
# The drivers register themselves in /etc/odbcinst.ini ("PostgreSQL Unicode", "MariaDB Unicode",
# "SQLite3"), the names the tests' connection strings use.
set -euo pipefail

packages=(unixodbc unixodbc-dev odbc-postgresql odbc-mariadb libsqliteodbc)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for driver in "PostgreSQL Unicode" "MariaDB Unicode" "SQLite3"; do
  odbcinst -q -d -n "$driver" >/dev/null || { echo "ODBC driver \"$driver\" is not registered" >&2; exit 1; }
done
