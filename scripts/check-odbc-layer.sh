#!/usr/bin/env bash
# `make test-odbc`: builds a Lambda layer as a user would (scripts/odbc_layer.py), from this
# machine's own unixODBC and PostgreSQL driver laid out as extracted packages (x86_64 here; the
# template's functions are arm64), unpacks it where Lambda would put it, and connects through
# it with ODBCSYSINI set as the template sets it and the layer's lib/ on LD_LIBRARY_PATH (on
# Lambda after the runtime's own directories, which hold neither unixODBC nor a driver; here
# alone, as this machine's hold both): the test then checks that the driver manager, the driver
# and its libraries were loaded from the layer. Then what the builder must refuse.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

driver=$(dpkg -L odbc-postgresql | grep '/psqlodbcw\.so$' | head -1)
libodbc=$(ldconfig -p | awk '$1 == "libodbc.so.2" { print $NF; exit }')
libodbcinst=$(ldconfig -p | awk '$1 == "libodbcinst.so.2" { print $NF; exit }')
packages="$work/packages"
# The files as the packages install them: each under its own path, a library under its soname.
place() { mkdir -p "$packages$(dirname "$2")"; cp -L "$1" "$packages$2"; }
place "$driver" "$driver"
for library in "$libodbc" "$libodbcinst"; do
  place "$library" "$library"
done
for object in "$driver" "$libodbc" "$libodbcinst"; do
  ldd "$object" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | while read -r soname path; do
    place "$path" "$(dirname "$path")/$soname"
  done
done

layer="$work/opt"
"$python" scripts/odbc_layer.py --from "$packages" --arch x86_64 --prefix "$layer" \
  --driver "Layer PostgreSQL=${driver#/}" --out "$work/layer.zip"
"$python" -m zipfile -e "$work/layer.zip" "$layer"

# Refused, naming why, and no layer left at --out (not even an earlier one).
refused() {
  local why=$1; shift
  cp "$work/layer.zip" "$work/stale.zip"
  if "$python" scripts/odbc_layer.py --from "$packages" --arch x86_64 --out "$work/stale.zip" \
    "$@" 2>"$work/refusal"; then
    echo "odbc_layer.py built a layer with $*" >&2; exit 1
  fi
  grep -q -- "$why" "$work/refusal" || { cat "$work/refusal" >&2; exit 1; }
  [ ! -e "$work/stale.zip" ] || { echo "a stale layer was left after $*" >&2; exit 1; }
}
refused "leaves --from" --driver "X=../../etc/passwd"
refused "an absolute path" --prefix "$(printf '/opt\n[Evil]')" --driver "X=${driver#/}"
refused "no arm64 libodbc.so.2" --arch arm64 --driver "X=${driver#/}"
ln -s /etc "$packages/opt-escape"
refused "not a file inside" --driver "X=opt-escape/hostname"
mkdir -p "$packages/opt/vendor" && ln -s /etc/hostname "$packages/opt/vendor/hostname"
cp "$packages$driver" "$packages/opt/vendor/driver.so"
refused "leads outside" --driver "X=opt/vendor/driver.so"
rm "$packages$libodbcinst"
refused "libodbcinst.so.2" --driver "X=${driver#/}"

test_binary=$(cargo test --locked -p odbc-session --test drivers --no-run 2>&1 \
  | sed -n 's/.*Executable tests\/drivers.rs (\(.*\))/\1/p')
# The server: TEST_POSTGRES_URL's where it is a native URL (CI's), else the local one.
server=${TEST_POSTGRES_URL:-}
case "$server" in postgres://* | postgresql://*) ;; *) server=postgres://postgres@127.0.0.1:5432/test ;; esac
[ -x "$test_binary" ] || { echo "no test binary for tests/drivers.rs" >&2; exit 1; }
ODBC_LAYER="$layer" LD_LIBRARY_PATH="$layer/lib" ODBCSYSINI="$layer/etc" TEST_POSTGRES_URL="$server" \
  "$test_binary" --exact a_connection_through_a_layer_loads_the_layers_files | tee "$work/test.log"
grep -q "test result: ok. 1 passed" "$work/test.log" || { echo "the layer test did not run" >&2; exit 1; }
