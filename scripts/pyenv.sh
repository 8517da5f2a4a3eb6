# Sourced (not run) by the black-box suites' runners (scripts/mqtt-tests.sh,
# scripts/wallet-tests.sh): the Python virtual environment at target/pyenv that both share,
# with pinned packages. The caller has already `cd`ed to the repository root.
#
#   source scripts/pyenv.sh
#   missing=(...)                # the caller's own Debian packages, if any
#   pyenv_need_debs missing      # adds python3 / python3-venv when they are missing
#   apt_install ${missing[@]+"${missing[@]}"}   # one apt-get run for all (none if empty)
#   pyenv_prepare                # creates or refreshes target/pyenv
#   exec "$VENV/bin/python" -m pytest ...

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# The interpreter the venv is built from: Debian's python3 (what python3-venv belongs to)
# unless PYTHON names another.
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

VENV=target/pyenv
# Pinned versions, one list for every suite that shares the venv; bump them here (and the
# stamp changes, so the venv is refreshed).
PIP_PINS=(paho-mqtt==2.1.0 pytest==8.3.5 pytest-timeout==2.3.1 PyJWT==2.10.1 requests==2.32.3)

# pyenv_need_debs ARRAY_NAME: appends to the named array the Debian packages the venv needs
# and this machine lacks.
pyenv_need_debs() {
  local -n _debs="$1"
  command -v "$PYTHON" >/dev/null 2>&1 || _debs+=(python3)
  if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then _debs+=(python3-venv); fi
}

# apt_install PKG...: installs the packages (deduplicated) with apt-get; nothing if none.
apt_install() {
  [ $# -gt 0 ] || return 0
  echo "==> installing $*"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "$@" | sort -u)
}

# pyenv_prepare: creates target/pyenv if missing and installs the pins when they changed.
pyenv_prepare() {
  local stamp="$VENV/.pins"
  if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${PIP_PINS[*]}" ]; then
    echo "==> preparing $VENV"
    mkdir -p target
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PIP_PINS[@]}"
    echo "${PIP_PINS[*]}" >"$stamp"
  fi
}
