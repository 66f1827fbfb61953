#!/usr/bin/env bash
# Run a command inside the project's own virtual environment, creating or
# refreshing it first: `deploy/dev.sh python -m monitor run`, `deploy/dev.sh pytest`.
#
# The environment lives in .venv beside pyproject.toml; it is (re)installed when
# missing or when pyproject.toml changed since the last install.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="${MONITOR_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
stamp="$venv/.installed-from"
want=$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up $venv (one time) ..." >&2
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet -e "$root[dev]" >&2
  echo "$want" > "$stamp"
fi
# The tests render one digest in headless Chromium (Debian's package; no browser
# download). Install it when running the tests as root on a Debian-like machine;
# elsewhere that one test skips and says why. MONITOR_NO_APT=1 turns this off.
if [ "${1:-}" = "pytest" ] && [ -z "${MONITOR_NO_APT:-}" ] && [ "$(id -u)" = 0 ] \
    && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the digest rendering test ..." >&2
  apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
    || echo "could not install chromium; the digest rendering test will skip" >&2
fi
cd "$root"
export PATH="$venv/bin:$PATH"
exec "$@"
