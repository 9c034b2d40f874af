#!/usr/bin/env bash
# Install what Druckhub needs into ./.venv (and, with --test, everything the tests need).
#   scripts/install.sh          runtime: Python venv + requirements.txt, Debian prusa-slicer,
#                               three.js and Swagger UI (the API's documentation page) from npm
#   scripts/install.sh --demo   + OctoPrint in its own venv (.venv-octoprint): scripts/run's
#                               virtual printers
#   scripts/install.sh --test   + Debian chromium, dev requirements, OctoPrint as for --demo
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
want_test=0; [ "${1:-}" = "--test" ] && want_test=1
want_octoprint=$want_test; [ "${1:-}" = "--demo" ] && want_octoprint=1

apt_install() {  # install Debian packages that are missing (root or sudo)
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
apt_install prusa-slicer
if [ $want_test -eq 1 ]; then
  apt_install chromium
  .venv/bin/pip install -q -r requirements-dev.txt
else
  .venv/bin/pip install -q -r requirements.txt
fi
if [ $want_octoprint -eq 1 ]; then
  # OctoPrint pins an older Flask: it gets a venv of its own (the tests' and the demo's printers).
  [ -x .venv-octoprint/bin/octoprint ] || { "$PY" -m venv .venv-octoprint &&
    .venv-octoprint/bin/pip install -q OctoPrint==1.11.8; }
fi
# three.js for the 3D part viewer, pinned in package.json / package-lock.json
if [ ! -f marketplace/static/vendor/three/build/three.module.js ]; then
  npm ci --silent --no-audit --no-fund
  mkdir -p marketplace/static/vendor/three/build marketplace/static/vendor/three/examples/jsm
  cp node_modules/three/build/three.module.js node_modules/three/build/three.core.js \
     marketplace/static/vendor/three/build/
  cp -r node_modules/three/examples/jsm/controls node_modules/three/examples/jsm/loaders \
     node_modules/three/examples/jsm/utils marketplace/static/vendor/three/examples/jsm/
fi
# Swagger UI for the API's documentation page (/api/v1/docs), pinned in package.json too
if [ ! -f marketplace/static/vendor/swagger-ui/swagger-ui-bundle.js ]; then
  [ -f node_modules/swagger-ui-dist/swagger-ui-bundle.js ] || npm ci --silent --no-audit --no-fund
  mkdir -p marketplace/static/vendor/swagger-ui
  cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css \
     node_modules/swagger-ui-dist/LICENSE marketplace/static/vendor/swagger-ui/
fi
