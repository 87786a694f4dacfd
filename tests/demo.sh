#!/usr/bin/env bash
# make demo: the whole grunt loop on this one machine, no cluster needed.
# Two temporary homes stand for the laptop and the cluster; the "remote" is the
# cluster home's path (local transport).  Jobs run as background processes.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
D=$(mktemp -d /tmp/grunt-demo.XXXXXX)
SRV=$D/cluster-home
CLI=$D/laptop-home
GRUND_PID=
cleanup() {
  [ -n "$GRUND_PID" ] && kill "$GRUND_PID" 2>/dev/null && wait "$GRUND_PID" 2>/dev/null
  rm -rf "$D"
}
trap cleanup EXIT
mkdir -p "$SRV" "$CLI"
# Both homes are temporary, with their own ~/.gitconfig: nothing here reads or
# writes the caller's home, with any git (GIT_CONFIG_GLOBAL needs git 2.32).
for h in "$SRV" "$CLI"; do
  echo demo > "$h/.grunt.defserver"
  printf '[user]\n\tname = Demo User\n\temail = demo@example.invalid\n' > "$h/.gitconfig"
done
export HOME=$CLI GIT_CONFIG_NOSYSTEM=1
unset GIT_CONFIG_GLOBAL

server() { (cd "$SRV" && HOME=$SRV "$@"); }
laptop() { (cd "$CLI/hello" && HOME=$CLI "$@"); }
if [ -t 1 ]; then B=$(printf '\033[1m') N=$(printf '\033[0m'); else B= N=; fi
step() { printf '\n%s$ %s%s\n' "$B" "$*" "$N"; }

step "grunt newproj hello                      # on the cluster"
server "$TOP/grunt" newproj hello
step "grunt newproj hello $SRV    # on the laptop"
(cd "$CLI" && HOME=$CLI "$TOP/grunt" newproj hello "$SRV")

# the project: a git checkout with run.sh and grunter.py
mkdir -p "$CLI/hello"
cat > "$CLI/hello/run.sh" <<'EOS'
echo "hello from the job, args: $*"
sleep 1
echo "$*" > result.txt
EOS
(cd "$CLI/hello" && git init -q && git symbolic-ref HEAD refs/heads/main)
step "grunt init                               # writes grunter.py"
laptop "$TOP/grunt" init
# the example runner, told to start jobs as plain processes (no Slurm here)
sed -i 's/"runner": "auto"/"runner": "local"/' "$CLI/hello/grunter.py"
(cd "$CLI/hello" && git add run.sh grunter.py && git commit -qm "first version")

step "grund &                                  # on the cluster"
(cd "$SRV" && HOME=$SRV exec "$TOP/grund" --interval 1 -q) &
GRUND_PID=$!

step "grunt submit 1 2 3 -m 'first try'"
JOB=$(laptop "$TOP/grunt" submit 1 2 3 -m 'first try')
echo "$JOB"

step "grunt wait $JOB"
laptop "$TOP/grunt" wait "$JOB"
step "grunt server-status"
laptop "$TOP/grunt" server-status

step "grunt update $JOB"
laptop "$TOP/grunt" update "$JOB"
sleep 2
step "grunt pull"
laptop "$TOP/grunt" pull
step "grunt jobs"
laptop "$TOP/grunt" jobs
step "grunt out $JOB"
laptop "$TOP/grunt" out "$JOB"
step "grunt ls $JOB"
laptop "$TOP/grunt" ls "$JOB"
step "cat gresults/$JOB/result.txt"
cat "$CLI/hello/gresults/$JOB/result.txt"
echo 'sleep 2' >> "$CLI/hello/run.sh"
step "grunt diff $JOB                           # after editing run.sh"
laptop "$TOP/grunt" diff "$JOB"
printf '\ndemo done: the loop works on this machine.\n'
