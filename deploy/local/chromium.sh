#!/usr/bin/env bash
# Headless Chromium and its chromedriver from Debian's packages, for the dashboard's browser test.
# A CJK font too (1.6 MB), so that screenshots show the Chinese text instead of empty boxes.
# Usage: deploy/local/chromium.sh   (idempotent: installs only when chromium or chromedriver is missing)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then
  exit 0
fi
[ "$(id -u)" = 0 ] || die "chromium or chromedriver is missing: run 'sudo apt-get install -y chromium chromium-driver fonts-wqy-microhei' once"
mkdir -p "$STATE"
say "installing chromium and chromium-driver from Debian's packages"
# Both come from one source package, so their versions always match (Selenium never fetches a driver).
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  chromium chromium-driver fonts-wqy-microhei) >"$STATE/chromium-install.log" 2>&1 \
  || die "apt-get install chromium chromium-driver fonts-wqy-microhei failed (see $STATE/chromium-install.log): check the Debian mirror"
say "chromium ready: $(chromium --version 2>/dev/null), $(chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"
