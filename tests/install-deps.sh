#!/usr/bin/env bash
# Install what the test suite needs when it is missing: a real OpenSSH server,
# a real single-node Slurm (slurmctld, slurmd, munge), tmux (terminal checks),
# pytest and vermin (the Python 3.8 check).
# apt-get needs root; without root the ssh and Slurm tests skip themselves.
set -euo pipefail
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v slurmctld >/dev/null || need+=(slurmctld)
command -v slurmd >/dev/null || need+=(slurmd)
command -v sbatch >/dev/null || need+=(slurm-client)
command -v munged >/dev/null || need+=(munge)
command -v tmux >/dev/null || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "install-deps: apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "install-deps: not root, cannot install ${need[*]}; those tests will be skipped" >&2
  fi
fi
if ! python3 -c 'import pytest' 2>/dev/null; then
  echo "install-deps: pip install pytest"
  python3 -m pip install -q pytest || python3 -m pip install -q --break-system-packages pytest
fi
if ! command -v vermin >/dev/null; then
  echo "install-deps: pip install vermin"
  python3 -m pip install -q vermin || python3 -m pip install -q --break-system-packages vermin
fi
