#!/usr/bin/env bash
# Install what the test suite needs when it is missing: a real OpenSSH server,
# a real single-node Slurm (slurmctld, slurmd, munge), a real single-node Grid Engine,
# tmux (terminal checks), zsh (its completion), chromium (grunt report checked in a
# headless browser), pytest, pytest-xdist (the fast tier on both cores) and vermin
# (the Python version check).  With --python: only the Python packages (make check).
# apt-get needs root; without root the ssh and Slurm tests skip themselves.
set -euo pipefail
pip_install() {
  echo "install-deps: pip install $1"
  python3 -m pip install -q "$1" || python3 -m pip install -q --break-system-packages "$1"
}
python3 -c 'import pytest' 2>/dev/null || pip_install pytest
python3 -c 'import xdist' 2>/dev/null || pip_install pytest-xdist
command -v vermin >/dev/null || pip_install vermin
# the fast tier runs on pyenv's 3.8 and 3.13 too (make test), when they are there
root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
for py in "$root"/versions/3.8.*/bin/python3 "$root"/versions/3.13.*/bin/python3; do
  [ -x "$py" ] || continue
  "$py" -c 'import pytest, xdist' 2>/dev/null && continue
  echo "install-deps: $py -m pip install pytest pytest-xdist"
  "$py" -m pip install -q pytest pytest-xdist || "$py" -m pip install -q --break-system-packages pytest pytest-xdist
done
[ "${1:-}" = "--python" ] && exit 0
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v slurmctld >/dev/null || need+=(slurmctld)
command -v slurmd >/dev/null || need+=(slurmd)
command -v sbatch >/dev/null || need+=(slurm-client)
command -v munged >/dev/null || need+=(munge)
command -v tmux >/dev/null || need+=(tmux)
command -v zsh >/dev/null || need+=(zsh)
command -v chromium >/dev/null || need+=(chromium)   # the report in a real browser
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "install-deps: apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "install-deps: not root, cannot install ${need[*]}; those tests will be skipped" >&2
  fi
fi
# a real single-node Grid Engine: its packages, preseeded, with no daemon started
if [ "$(id -u)" -eq 0 ] && ! command -v qconf >/dev/null; then
  echo "install-deps: Grid Engine (gridengine-master, -exec, -client)"
  SGE_TEST_INSTALL_ONLY=1 bash "$(dirname "$0")/harness/sge-up.sh" >/dev/null
fi
