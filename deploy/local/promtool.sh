#!/usr/bin/env bash
# promtool, from Debian's `prometheus` package, for the alert rules' tests (tests/deploy/test_prometheus.py):
# `promtool check rules` and `promtool test rules` on deploy/prometheus/.
# Only the promtool binary is taken out of the package, into .cache/prometheus/ (no Prometheus server is
# installed or started, nothing lands in the system): `apt-get download` fetches the .deb, dpkg-deb unpacks it.
# Usage: deploy/local/promtool.sh   (idempotent: does nothing when promtool is on PATH or already unpacked)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if command -v promtool >/dev/null 2>&1 || [ -x "$CACHE/prometheus/usr/bin/promtool" ]; then
  exit 0
fi
need apt-get "promtool comes from Debian's prometheus package"
need dpkg-deb "promtool comes from Debian's prometheus package"
mkdir -p "$STATE" "$CACHE/prometheus"
say "unpacking promtool from Debian's prometheus package into $CACHE/prometheus"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch() { (cd "$work" && apt-get download prometheus) >"$STATE/promtool-install.log" 2>&1; }
if ! fetch; then
  # A fresh machine may have no package lists yet.
  [ "$(id -u)" = 0 ] || die "apt-get download prometheus failed (see $STATE/promtool-install.log): run 'sudo apt-get update' once"
  apt-get update -qq >>"$STATE/promtool-install.log" 2>&1 || true
  fetch || die "apt-get download prometheus failed (see $STATE/promtool-install.log): check the Debian mirror"
fi
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
install -D -m 0755 "$work/root/usr/bin/promtool" "$CACHE/prometheus/usr/bin/promtool"
say "promtool ready: $("$CACHE/prometheus/usr/bin/promtool" --version 2>&1 | head -1)"
