#!/usr/bin/env bash
# Starts a private Dovecot IMAP server on 127.0.0.1 for the integration
# tests (go test -run Dovecot ./...). Installs dovecot-imapd on Debian when
# Dovecot is missing. Prints only export lines on stdout, so use it as
#
#   eval "$(scripts/dovecot.sh)"
#   go test -p 1 -count=1 -run Dovecot ./...
#   eval "$MADOGUCHI_DOVECOT_STOP"
#
# Everything else goes to stderr. The server keeps its configuration, mail,
# sockets and log in one temporary directory, which the stop command removes.
set -euo pipefail

say() { echo "dovecot.sh: $*" >&2; }

find_dovecot() {
  command -v dovecot 2>/dev/null || { [ -x /usr/sbin/dovecot ] && echo /usr/sbin/dovecot; } || true
}

dovecot_bin=$(find_dovecot)
if [ -z "$dovecot_bin" ]; then
  say "dovecot not found; installing dovecot-imapd"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      say "not root and no sudo: install dovecot-imapd first"
      exit 1
    fi
  fi
  "${sudo[@]}" apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >&2
  dovecot_bin=$(find_dovecot)
  [ -n "$dovecot_bin" ] || { say "dovecot still missing after the install"; exit 1; }
fi
version=$("$dovecot_bin" --version)
case "$version" in
  2.3.*) ;;
  *) say "written for Dovecot 2.3 (Debian 12); found $version, the settings may differ" ;;
esac

# A free port: nothing answers on it now.
port=""
for _ in $(seq 1 50); do
  candidate=$((14300 + RANDOM % 1000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
    port=$candidate
    break
  fi
done
[ -n "$port" ] || { say "no free port found in 14300-15299"; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/madoguchi-dovecot.XXXXXX")
chmod 755 "$dir"
conf="$dir/dovecot.conf"
user=desk
# od reads exactly 12 bytes: no SIGPIPE for pipefail to trip over.
pass=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

# Dovecot refuses to run mail or login processes as root, so root runs them
# as the accounts the Debian package creates; anyone else runs everything
# as themselves.
if [ "$(id -u)" -eq 0 ]; then
  internal_user=dovecot
  internal_group=dovecot
  login_user=dovenull
  mail_user=dovecot
else
  internal_user=$(id -un)
  internal_group=$(id -gn)
  login_user=$(id -un)
  mail_user=$(id -un)
fi
mail_uid=$(id -u "$mail_user")
mail_gid=$(id -g "$mail_user")
mkdir -p "$dir/run" "$dir/state" "$dir/mail"
chown "$mail_uid:$mail_gid" "$dir/mail"

printf '%s:{PLAIN}%s\n' "$user" "$pass" >"$dir/users"
chmod 600 "$dir/users"
chown "$internal_user" "$dir/users" # the auth process reads it as that user

cat >"$conf" <<EOF
# Private test instance written by scripts/dovecot.sh (Dovecot 2.3 keys).
protocols = imap
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/state
instance_name = madoguchi-test-$port
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = $internal_user
default_internal_group = $internal_group
default_login_user = $login_user
first_valid_uid = $mail_uid
last_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:$dir/mail/%u
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = static
  args = uid=$mail_uid gid=$mail_gid home=$dir/mail/%u
}
# chroot needs root; a test instance does without.
service anvil {
  chroot =
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
EOF

say "starting Dovecot $version on 127.0.0.1:$port (config $conf)"
if ! "$dovecot_bin" -c "$conf" >&2; then
  cat "$dir/dovecot.log" >&2 2>/dev/null || true
  exit 1
fi

# Ready when the greeting arrives; give up after 20 seconds.
ready=""
deadline=$((SECONDS + 20))
while [ "$SECONDS" -lt "$deadline" ]; do
  if greeting=$( { exec 3<>"/dev/tcp/127.0.0.1/$port" && IFS= read -r -t 2 line <&3 && echo "$line"; } 2>/dev/null) &&
    [[ $greeting == "* OK"* ]]; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  say "Dovecot did not answer on port $port; its log:"
  cat "$dir/dovecot.log" >&2 2>/dev/null || true
  "$dovecot_bin" -c "$conf" stop >&2 2>/dev/null || true
  exit 1
fi
say "ready; log in $dir/dovecot.log"

echo "export MADOGUCHI_DOVECOT_ADDR=127.0.0.1:$port"
echo "export MADOGUCHI_DOVECOT_USER=$user"
echo "export MADOGUCHI_DOVECOT_PASS=$pass"
echo "export MADOGUCHI_DOVECOT_STOP=\"$dovecot_bin -c $conf stop; rm -rf $dir\""
