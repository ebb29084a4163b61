#!/bin/sh
# quickstart.sh -- the README's two commands.
#   sh tools/quickstart.sh run    install what is missing, build, run the MTA on
#                                 the embedded default instance (IMTA_DEMO_ROOT,
#                                 default /tmp/imta-demo, loopback ports only)
#   sh tools/quickstart.sh test   install what is missing, build, run every test
# Needs root (or sudo) only to install missing Debian 12 packages.
set -eu

cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in run|test) ;; *) echo "usage: sh tools/quickstart.sh run|test" >&2; exit 2 ;; esac

packages="meson ninja-build g++ pkg-config python3 libasio-dev libssl-dev libldns-dev \
libsqlite3-dev libboost-program-options-dev catch2 mandoc swaks nsd"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "quickstart: installing$missing"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build

if [ "$mode" = test ]; then
  exec meson test -C build --print-errorlogs
fi

root=${IMTA_DEMO_ROOT:-/tmp/imta-demo}
imta=./build/tools/imta
if [ ! -f "$root/config/imta.cnf" ]; then
  $imta init "$root" --domain example.test --hostname mail.example.test
  $imta --root "$root" user add user --no-password
fi
$imta --root "$root" cnbuild -statistics
cat <<EOT

imta runs on $root in the foreground (Ctrl-C stops it):
  SMTP 127.0.0.1:2525, submission 127.0.0.1:2587 (STARTTLS + AUTH), 127.0.0.1:2465 (TLS)
Try it:   telnet 127.0.0.1 2525   then  HELO me / MAIL FROM:<a@example.org> /
          RCPT TO:<user@example.test> / DATA / Subject: hi / . / QUIT
Then:     $imta --root $root qm directory       (the message waits in queue/l)
          tail $root/log/mail.log_current
EOT
exec ./build/tools/imtad --root "$root" --foreground
