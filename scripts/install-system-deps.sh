#!/usr/bin/env bash
# Installs the Debian packages the project needs on this machine, if they are missing. Run as root
# (CI and the dev machines are). Kept idempotent and quick when everything is there already.
set -euo pipefail
packages=()
# Each entry: "<command or file that proves it is installed>:<debian package>"
for need in "ip:iproute2" "/usr/lib/python3/dist-packages/zmq:python3-zmq"; do
  probe=${need%%:*}
  pkg=${need#*:}
  if ! command -v "$probe" >/dev/null 2>&1 && [ ! -e "$probe" ]; then packages+=("$pkg"); fi
done
if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: need root to install: ${packages[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${packages[@]}"
fi
echo "system packages: ok"
