#!/usr/bin/env bash
# Install the Debian packages the test suite talks to, when they are missing:
# mosquitto (MQTT broker), influxdb (1.x server), chromium, a Japanese font and colour emoji
# (dashboard screenshots).
# Needs root (CI machines run as root); otherwise it says what to install and carries on.
set -euo pipefail

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v influxd >/dev/null 2>&1 || missing+=(influxdb)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Japanese glyphs for the dashboard screenshots (otherwise they render as empty boxes).
dpkg -s fonts-ipafont-gothic >/dev/null 2>&1 || missing+=(fonts-ipafont-gothic)
# Colour emoji: the Meters page marks each meter's status with one (🟢 🔴 ⚪ 🟠).
dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || missing+=(fonts-noto-color-emoji)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# The Debian packages enable their services; the tests start their own on free ports.
for svc in mosquitto influxdb; do
    if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
done
