#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on 127.0.0.1 for the tests that run
# against PostgreSQL (go test -run /Postgres ...). Installs Debian's
# postgresql package when initdb is missing. Prints only export lines on
# stdout, so use it as
#
#   eval "$(scripts/postgres.sh)"
#   go test -p 1 -count=1 -run /Postgres ./internal/store/... ./internal/testkit/teststore/...
#   eval "$MADOGUCHI_POSTGRES_STOP"
#
# Everything else goes to stderr. The cluster keeps its data, socket and
# log in one temporary directory, which the stop command removes. It runs
# without fsync (unless MADOGUCHI_POSTGRES_DURABLE=1): it holds nothing
# worth keeping, and the tests run faster.
set -euo pipefail

say() { echo "postgres.sh: $*" >&2; }

find_bin() {
  # The newest installed major version's programs.
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

bin=$(find_bin)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  say "PostgreSQL not found; installing postgresql"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      say "not root and no sudo: install postgresql first"
      exit 1
    fi
  fi
  "${sudo[@]}" apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bin=$(find_bin)
  [ -n "$bin" ] && [ -x "$bin/initdb" ] || { say "initdb still missing after the install"; exit 1; }
fi
version=$("$bin/postgres" --version)

# PostgreSQL refuses to run as root: root runs the cluster as the account
# the Debian package creates; anyone else runs it as themselves.
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  owner=postgres
  id -u "$owner" >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "$owner"
  as_owner=(runuser -u "$owner" --)
fi

# A free port: nothing answers on it now.
port=""
for _ in $(seq 1 50); do
  candidate=$((15400 + RANDOM % 1000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
    port=$candidate
    break
  fi
done
[ -n "$port" ] || { say "no free port found in 15400-16399"; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/madoguchi-postgres.XXXXXX")
chmod 755 "$dir"
user=madoguchi
db=madoguchi
# od reads exactly 12 bytes: no SIGPIPE for pipefail to trip over.
pass=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$pass" >"$dir/pwfile"
mkdir "$dir/data"
if [ "${#as_owner[@]}" -gt 0 ]; then
  chown -R "$owner" "$dir"
fi
chmod 600 "$dir/pwfile"

# Connections over TCP need the password; the socket (in $dir, for
# createdb below) trusts the cluster's owner.
"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U "$user" --pwfile="$dir/pwfile" \
  --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
  cat "$dir/initdb.log" >&2
  exit 1
}
rm -f "$dir/pwfile"

say "starting $version on 127.0.0.1:$port (data $dir/data)"
# MADOGUCHI_POSTGRES_DURABLE=1 keeps PostgreSQL's default durability (for
# `madoguchi bench -db`, whose figures must include the commits' fsync).
durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
if [ "${MADOGUCHI_POSTGRES_DURABLE:-}" = 1 ]; then
  durability=""
fi
if ! "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir $durability -c max_connections=200" \
  start >&2; then
  cat "$dir/postgres.log" >&2 2>/dev/null || true
  exit 1
fi
stop="${as_owner[*]} $bin/pg_ctl -D $dir/data -m fast stop >/dev/null; rm -rf $dir"
if ! "${as_owner[@]}" "$bin/createdb" -h "$dir" -p "$port" -U "$user" "$db" >&2; then
  eval "$stop"
  exit 1
fi
say "ready; log in $dir/postgres.log"

echo "export MADOGUCHI_POSTGRES_URL=postgres://$user:$pass@127.0.0.1:$port/$db?sslmode=disable"
echo "export MADOGUCHI_POSTGRES_STOP=\"$stop\""
