#!/usr/bin/env bash
# Sets up glip-bench on a fresh Debian machine with Node/npm: a pinned Deno from the npm
# registry, Mesa's software Vulkan driver (lavapipe, so WebGPU runs without a GPU), Chromium
# (report tests), and the npm dependencies pinned in deno.json. Safe to run again: it skips
# what is already there.
#
# Installing system packages needs root: as another user it uses sudo (and says so), and without
# sudo it stops and names what to install by hand. When another apt or dpkg process holds the
# lock, it waits for it (up to SETUP_APT_LOCK_WAIT seconds, default 300, checking every
# SETUP_APT_LOCK_POLL seconds, default 5). apt's output goes to .cache/setup.log; the terminal
# gets a few lines and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=2.9.6
APT_PACKAGES=(mesa-vulkan-drivers chromium time)
declare -A PACKAGE_USE=(
  [mesa-vulkan-drivers]="software Vulkan, so WebGPU runs without a GPU"
  [chromium]="report tests"
  [time]="/usr/bin/time, for the reference tools' peak memory in perf:eval"
)
LOCK_WAIT=${SETUP_APT_LOCK_WAIT:-300}
LOCK_POLL=${SETUP_APT_LOCK_POLL:-5}
LOG="$PWD/.cache/setup.log"

say() { echo "setup: $*" >&2; }

for setting in SETUP_APT_LOCK_WAIT SETUP_APT_LOCK_POLL; do
  if [ -n "${!setting:-}" ] && ! [[ ${!setting} =~ ^[0-9]+$ ]]; then
    say "$setting must be a whole number of seconds (got '${!setting}')"
    exit 2
  fi
done

mkdir -p .cache
: >"$LOG"

# How to run a command as root: nothing as root, sudo otherwise (said once), or stop with what
# to do by hand.
root_prefix=()
sudo_announced=""
need_root() { # $1: what needs root, $2: how to do it by hand
  if [ "$(id -u)" = 0 ]; then
    root_prefix=()
  elif command -v sudo >/dev/null 2>&1; then
    root_prefix=(sudo)
    if [ -z "$sudo_announced" ]; then
      say "not running as root: using sudo for $1 (it may ask for your password)"
      sudo_announced=1
    fi
  else
    say "$1 needs root, and this user ($(id -un 2>/dev/null || id -u)) is not root and has no sudo."
    say "Do it by hand as root, then run scripts/setup.sh again:"
    say "  $2"
    exit 1
  fi
}

# Runs an apt-get command as root with its output in the log, waiting while another apt or dpkg
# process holds the lock.
apt_get() {
  local waited=0 announced="" status
  while true; do
    echo "+ apt-get $*" >>"$LOG"
    status=0
    "${root_prefix[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" >>"$LOG" 2>&1 ||
      status=$?
    if [ "$status" = 0 ]; then
      [ -n "$announced" ] && say "the lock is free after ${waited} s; going on"
      return 0
    fi
    local lock_line
    lock_line=$(tail -n 20 "$LOG" | grep -E 'Could not get lock|Unable to acquire the dpkg' |
      tail -n 1 || true)
    if [ -z "$lock_line" ]; then
      say "apt-get $1 failed (exit $status); the end of $LOG:"
      tail -n 15 "$LOG" | sed 's/^/  /' >&2
      exit 1
    fi
    if [ "$waited" -ge "$LOCK_WAIT" ]; then
      say "another apt or dpkg process still holds the lock after ${LOCK_WAIT} s:"
      say "  $lock_line"
      say "let it finish (see: ps -ef | grep -E 'apt|dpkg'), then run scripts/setup.sh again."
      exit 1
    fi
    if [ -z "$announced" ]; then
      say "another apt or dpkg process holds the lock; waiting for it (up to ${LOCK_WAIT} s):"
      say "  $lock_line"
      announced=1
    fi
    sleep "$LOCK_POLL"
    waited=$((waited + LOCK_POLL))
  done
}

summary=()

current_deno=""
if command -v deno >/dev/null 2>&1; then
  current_deno=$(deno --version | head -n 1 | awk '{print $2}')
fi
if [ "$current_deno" != "$DENO_VERSION" ]; then
  say "installing deno $DENO_VERSION from the npm registry (npm install --global deno@$DENO_VERSION)"
  if ! command -v npm >/dev/null 2>&1; then
    say "npm is missing: install Node.js and npm (as root: apt-get install -y npm), or deno"
    say "$DENO_VERSION by hand (https://docs.deno.com), then run scripts/setup.sh again."
    exit 1
  fi
  if [ -w "$(npm prefix --global)" ]; then
    root_prefix=()
  else
    need_root "npm install --global" "npm install --global deno@$DENO_VERSION"
  fi
  echo "+ npm install --global deno@$DENO_VERSION" >>"$LOG"
  if ! "${root_prefix[@]}" npm install --global --no-audit --no-fund "deno@$DENO_VERSION" \
    >>"$LOG" 2>&1; then
    say "npm install --global deno@$DENO_VERSION failed; the end of $LOG:"
    tail -n 15 "$LOG" | sed 's/^/  /' >&2
    exit 1
  fi
  summary+=("deno $DENO_VERSION installed")
else
  summary+=("deno $DENO_VERSION already there")
fi

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  need_root "installing ${missing[*]} with apt-get" \
    "apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  say "installing with apt-get (output in $LOG):"
  for package in "${missing[@]}"; do say "  $package: ${PACKAGE_USE[$package]}"; done
  apt_get update -q
  apt_get install -y -q --no-install-recommends "${missing[@]}"
  summary+=("apt installed ${missing[*]}")
else
  summary+=("apt packages already there (${APT_PACKAGES[*]})")
fi

# npm packages pinned in deno.json, into ./node_modules (lifecycle scripts stay off: the
# onnxruntime-node postinstall would try to download CUDA libraries from NuGet).
echo "+ deno install" >>"$LOG"
if ! deno install --quiet >>"$LOG" 2>&1; then
  say "deno install failed; the end of $LOG:"
  tail -n 15 "$LOG" | sed 's/^/  /' >&2
  exit 1
fi
summary+=("npm packages from deno.json in node_modules")

say "ready: ${summary[0]}; ${summary[1]}; ${summary[2]} (full output: $LOG)"
