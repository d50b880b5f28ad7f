#!/usr/bin/env bash
# Installs the Debian packages mqttsim needs, or prints the exact command when not root.
set -eu
pkgs="build-essential pkg-config libgsl-dev libcjson-dev libcmocka-dev gnuplot-nox"
case "${1:-}" in
  # tshark for the pcap checks; the testbed's tests: Mosquitto and its clients, ping, ip, capsh.
  test) pkgs="$pkgs parallel tshark mosquitto mosquitto-clients iputils-ping iproute2 libcap2-bin" ;;
  fuzz) pkgs="$pkgs clang libclang-rt-14-dev llvm" ;;
esac
missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "mqttsim: installing missing packages:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends $missing >&2
else
  echo "mqttsim: missing Debian packages:$missing" >&2
  echo "run:  sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
