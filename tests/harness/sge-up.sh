#!/usr/bin/env bash
# sge-up.sh -- start a REAL single-host Grid Engine cell (sge_qmaster + sge_execd) on this
# machine from plain bash (no systemd, no init scripts).  Run as root.
# Tested on Debian 12 with the Debian packages gridengine-master, gridengine-exec and
# gridengine-client 8.1.9+dfsg-10 (Son of Grid Engine 8.1.9).
#
# What it does: installs the three packages if they are missing (non-interactive, debconf
# preseeded, no daemon started by the package), makes the host name resolvable for Grid
# Engine, (re)initialises the cell "default" under /var/lib/gridengine, starts sge_qmaster
# and sge_execd with a clean environment, and configures: this host as admin, submit and
# execution host, host group @allhosts, parallel environment "smp", queue all.q with
# $SGE_TEST_SLOTS slots, a 1-second scheduler, immediate accounting (qacct).
#
# Idempotent: if both daemons are up and the generated configuration is unchanged it only
# re-checks the queue and exits 0; dead daemons are (re)started; a changed configuration
# is applied live with qconf (Grid Engine needs no restart for that).
#
# Environment knobs (all optional):
#   SGE_TEST_ROOT     pid files and generated config files      (default /var/tmp/sge-test)
#   SGE_TEST_SLOTS    slots of all.q (jobs running at once)      (default 2)
#   SGE_TEST_USER     a non-root user that will submit jobs: created (useradd -m) if missing
#   SGE_TEST_TIMEOUT  seconds to wait for qmaster / the queue    (default 60)
#   SGE_TEST_KEEP_STATE=1  do not wipe the cell on a cold start (keeps jobs, job ids,
#                     accounting file); default: every cold start is a fresh cell
#   SGE_TEST_NO_INSTALL=1  fail instead of running apt-get when packages are missing
#   SGE_TEST_INSTALL_ONLY=1  install the packages when missing, then stop
# Clients need no environment variables: /usr/bin/q* are Debian wrappers that read
# /etc/default/gridengine (SGE_ROOT=/var/lib/gridengine, SGE_CELL=default).
set -euo pipefail

T0=$(date +%s%N)
ROOT=${SGE_TEST_ROOT:-/var/tmp/sge-test}
SLOTS=${SGE_TEST_SLOTS:-2}
TIMEOUT=${SGE_TEST_TIMEOUT:-60}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
# call the real binaries: the /usr/bin/q* Debian wrappers cost ~70 ms per call (they run
# util/arch twice); the binaries only need SGE_ROOT (+ SGE_CELL)
export PATH=/usr/lib/gridengine:$PATH
COMMON=$SGE_ROOT/$SGE_CELL/common
SPOOL=/var/spool/gridengine                 # qmaster/, spooldb/, execd/ (Debian layout)
QM_PIDFILE=$SPOOL/qmaster/qmaster.pid       # written by sge_qmaster itself
UTIL=/usr/lib/gridengine                    # real binaries + gethostname/gethostbyaddr tools
QPORT=6444 EPORT=6445                       # sge_qmaster / sge_execd, from /etc/services
# Daemons are started with this environment only: sge_execd passes ITS OWN environment
# on to every job (the job sees whatever the caller of this script had exported).
CLEAN_ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
           LANG=C.UTF-8 "SGE_ROOT=$SGE_ROOT" "SGE_CELL=$SGE_CELL")

elapsed() { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); printf '%d.%02d' $((ms / 1000)) $((ms % 1000 / 10)); }
log() { printf '[sge-up %6ss] %s\n' "$(elapsed)" "$*"; }
die() { log "ERROR: $*"; exit 1; }
# running PID: exists and is not a zombie (a killed daemon stays a zombie until PID 1 reaps it)
running() { local st; st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [[ $st != Z ]]; }
# alive PIDFILE NAME: pid file exists, process runs and really is NAME (guards against pid reuse)
alive() { [[ -s $1 ]] && running "$(cat "$1")" && [[ $(cat "/proc/$(cat "$1")/comm" 2>/dev/null) == "$2" ]]; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pkg_ok() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }

OUR_POLICY=0 NEWCONF=""
cleanup() {
    if (( OUR_POLICY )); then rm -f /usr/sbin/policy-rc.d; fi
    if [[ -n $NEWCONF ]]; then rm -rf "$NEWCONF"; fi
}
trap cleanup EXIT

[[ $(id -u) -eq 0 ]] || die "must run as root"
[[ $SLOTS =~ ^[1-9][0-9]*$ ]] || die "SGE_TEST_SLOTS must be a positive integer"
HOST=$(hostname)
[[ -n $HOST ]] || die "hostname is empty"

mkdir -p "$ROOT"/{pids,conf}
chmod 755 "$ROOT" "$ROOT"/{pids,conf}

############################################################ packages
PKGS=(gridengine-master gridengine-exec gridengine-client)
missing=()
for p in "${PKGS[@]}"; do pkg_ok "$p" || missing+=("$p"); done
if (( ${#missing[@]} )); then
    [[ ${SGE_TEST_NO_INSTALL:-0} == 1 ]] && die "packages missing: ${missing[*]} (SGE_TEST_NO_INSTALL=1)"
    # slurm-wlm-torque ships /usr/bin/qsub etc. too and Conflicts: gridengine-client;
    # apt-get would silently REMOVE it to install gridengine.  Refuse instead.
    pkg_ok slurm-wlm-torque && die "slurm-wlm-torque is installed; it conflicts with gridengine-client (both ship /usr/bin/qsub, qstat, qdel, ...). Remove it first (see pbs-notes.md)"
    log "installing ${missing[*]} (apt-get)"
    # Answers for the debconf questions of gridengine-common/-client/-master/-exec; with
    # gridengineconfig=true the master postinst runs init_cluster (we re-init anyway).
    debconf-set-selections <<EOF
gridengine-common shared/gridengineconfig boolean true
gridengine-common shared/gridenginecell string $SGE_CELL
gridengine-common shared/gridenginemaster string $HOST
EOF
    # gridengine-common Depends: bsd-mailx | mailx, and bsd-mailx pulls in an MTA (exim4 by
    # default, a daemon).  dma is a daemon-less MTA; only added when no MTA is installed.
    extra=()
    [[ -e /usr/bin/mail ]] || extra+=(bsd-mailx)
    [[ -e /usr/sbin/sendmail ]] || extra+=(dma)
    # The master/exec postinst scripts call `invoke-rc.d gridengine-{master,exec} start`.
    # A policy-rc.d that exits 101 stops that, so only this script starts daemons.
    # (Docker's Debian images already ship one; we add ours only when there is none.)
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# temporary, from sge-up.sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d; OUR_POLICY=1
    fi
    rc=0
    {
        apt-get update -q -o DPkg::Lock::Timeout=300 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef \
            -o Dpkg::Options::=--force-confold "${PKGS[@]}" "${extra[@]}"
    } >"$ROOT/apt.log" 2>&1 || rc=$?
    if (( OUR_POLICY )); then rm -f /usr/sbin/policy-rc.d; OUR_POLICY=0; fi
    if (( rc )); then tail -30 "$ROOT/apt.log" >&2; die "apt-get failed (rc=$rc, log $ROOT/apt.log)"; fi
    log "installed: $(dpkg-query -W -f='${Package} ${Version}  ' "${PKGS[@]}")"
fi
id sgeadmin >/dev/null 2>&1 || die "user sgeadmin missing (created by gridengine-common's postinst)"
# SGE_TEST_INSTALL_ONLY=1: the packages only, no cell (tests/install-deps.sh)
if [[ -n ${SGE_TEST_INSTALL_ONLY:-} ]]; then exit 0; fi

if [[ -n ${SGE_TEST_USER:-} ]] && ! id "$SGE_TEST_USER" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$SGE_TEST_USER"
    log "created user $SGE_TEST_USER"
fi

############################################################ host name
# Grid Engine checks every connection: the peer IP is resolved back to a name
# (gethostbyaddr) and must equal the name the client reports (gethostname ->
# gethostbyname).  Otherwise every command fails with
#   error: commlib error: access denied (client IP resolved to host name "localhost".
#          This is not identical to clients host name "vm")
# 1. the host name must resolve at all
if ! getent hosts "$HOST" >/dev/null; then
    echo "127.0.1.1 $HOST  # added by sge-up.sh (Grid Engine needs a resolvable host name)" >>/etc/hosts
    log "host name $HOST did not resolve: added '127.0.1.1 $HOST' to /etc/hosts"
fi
# 2. the name the qmaster sees for a local client is the reverse name of the client's
#    SOURCE address.  For a host name on 127.x (Debian's "127.0.1.1 myhost" line, or a
#    "127.0.0.1 myhost" line after "127.0.0.1 localhost") the kernel uses source 127.0.0.1
#    whatever 127.x address is dialled, so the qmaster sees "localhost".  A host_aliases
#    file ("myhost localhost") maps such reverse names to the host's own name.
NAME=$("$UTIL/gethostname" -name 2>/dev/null) || die "gethostname failed"
ADDR=$("$UTIL/gethostname" -all 2>/dev/null | sed -n 's/^Host Address(es): *\([^ ]*\).*/\1/p')
[[ -n $ADDR ]] || die "cannot find an address for $NAME"
srcs=("$ADDR"); [[ $ADDR == 127.* && $ADDR != 127.0.0.1 ]] && srcs+=(127.0.0.1)
ALIASES=""; nrev=0
for a in "${srcs[@]}"; do
    r=$("$UTIL/gethostbyaddr" -name "$a" 2>/dev/null) || continue
    [[ -n $r ]] || continue
    nrev=$((nrev + 1))
    [[ $r != "$NAME" && " $ALIASES " != *" $r "* ]] && ALIASES+=" $r"
done
(( nrev )) || die "no reverse name for ${srcs[*]} (Grid Engine needs one); add '$ADDR $NAME' to /etc/hosts"
[[ -n $ALIASES ]] && ALIASES="$NAME$ALIASES"

############################################################ generated configuration
# qconf -A*/-M* input files.  Values differing from the Debian defaults are marked (*).
NEWCONF=$(mktemp -d)
mkdir "$NEWCONF/conf"      # qconf -Mconf takes the config name from the FILE name
cat >"$NEWCONF/conf/global" <<EOF
execd_spool_dir              $SPOOL/execd
mailer                       /usr/bin/mail
xterm                        /usr/bin/xterm
load_sensor                  none
prolog                       none
epilog                       none
shell_start_mode             unix_behavior
login_shells                 bash,sh,ksh,csh,tcsh
min_uid                      0
min_gid                      0
user_lists                   none
xuser_lists                  none
projects                     none
xprojects                    none
enforce_project              false
enforce_user                 auto
load_report_time             00:00:05
max_unheard                  00:05:00
reschedule_unknown           00:00:00
loglevel                     log_warning
administrator_mail           none
set_token_cmd                none
pag_cmd                      none
token_extend_time            none
shepherd_cmd                 none
qmaster_params               none
execd_params                 none
reporting_params             accounting=true reporting=false flush_time=00:00:15 joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00
finished_jobs                100
gid_range                    65400-65500
qlogin_command               builtin
qlogin_daemon                builtin
rlogin_command               builtin
rlogin_daemon                builtin
rsh_command                  builtin
rsh_daemon                   builtin
max_aj_instances             2000
max_aj_tasks                 75000
max_u_jobs                   0
max_jobs                     0
auto_user_oticket            0
auto_user_fshare             0
auto_user_default_project    none
auto_user_delete_time        86400
delegated_file_staging       false
reprioritize                 0
jsv_url                      none
jsv_allowed_mod              ac,h,i,e,o,j,M,N,p,w
EOF
# (*) shell_start_mode unix_behavior: run job scripts by their #! line (default
#     posix_compliant runs every script with the queue's /bin/sh).
# (*) min_uid/min_gid 0: default 1000 rejects root's jobs at submit time.
# (*) load_report_time 5 s (default 40 s): after a qmaster restart the queue stays in
#     state "u" (unknown, nothing is scheduled) until the running execd's next load report
#     (measured: 2.6 s instead of 22 s).
# (*) administrator_mail none: no mails to root about failed jobs.
# (*) accounting_flush_time=00:00:00: qacct sees a job as soon as it ends (default: the
#     accounting file is written every flush_time = 15 s).
cat >"$NEWCONF/sched" <<'EOF'
algorithm                         default
schedule_interval                 0:0:1
maxujobs                          0
queue_sort_method                 load
job_load_adjustments              np_load_avg=0.50
load_adjustment_decay_time        0:7:30
load_formula                      np_load_avg
schedd_job_info                   true
flush_submit_sec                  1
flush_finish_sec                  1
params                            none
reprioritize_interval             0:0:0
halftime                          168
usage_weight_list                 cpu=1.000000,mem=0.000000,io=0.000000
compensation_factor               5.000000
weight_user                       0.250000
weight_project                    0.250000
weight_department                 0.250000
weight_job                        0.250000
weight_tickets_functional         0
weight_tickets_share              0
share_override_tickets            TRUE
share_functional_shares           TRUE
max_functional_jobs_to_schedule   200
report_pjob_tickets               TRUE
max_pending_tasks_per_job         50
halflife_decay_list               none
policy_hierarchy                  OFS
weight_ticket                     0.500000
weight_waiting_time               0.278000
weight_deadline                   3600000.000000
weight_urgency                    0.500000
weight_priority                   0.000000
max_reservation                   0
default_duration                  INFINITY
EOF
# (*) schedule_interval 1 s (default 15 s), flush_submit_sec/flush_finish_sec 1: a
#     scheduling run 1 s after each submit and each job end.
cat >"$NEWCONF/exechost" <<EOF
hostname              $NAME
load_scaling          NONE
complex_values        NONE
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE
EOF
cat >"$NEWCONF/hostgroup" <<EOF
group_name @allhosts
hostlist $NAME
EOF
cat >"$NEWCONF/pe_smp" <<'EOF'
pe_name            smp
slots              9999
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    $pe_slots
control_slaves     FALSE
job_is_first_task  TRUE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
EOF
cat >"$NEWCONF/queue" <<EOF
qname                 all.q
hostlist              @allhosts
seq_no                0
load_thresholds       NONE
suspend_thresholds    NONE
nsuspend              1
suspend_interval      00:05:00
priority              0
min_cpu_interval      00:05:00
processors            UNDEFINED
qtype                 BATCH INTERACTIVE
ckpt_list             NONE
pe_list               smp
rerun                 FALSE
slots                 $SLOTS
tmpdir                /tmp
shell                 /bin/sh
prolog                NONE
epilog                NONE
shell_start_mode      unix_behavior
starter_method        NONE
suspend_method        NONE
resume_method         NONE
terminate_method      NONE
notify                00:00:60
owner_list            NONE
user_lists            NONE
xuser_lists           NONE
subordinate_list      NONE
complex_values        NONE
projects              NONE
xprojects             NONE
calendar              NONE
initial_state         default
s_rt                  INFINITY
h_rt                  INFINITY
s_cpu                 INFINITY
h_cpu                 INFINITY
s_fsize               INFINITY
h_fsize               INFINITY
s_data                INFINITY
h_data                INFINITY
s_stack               INFINITY
h_stack               INFINITY
s_core                INFINITY
h_core                INFINITY
s_rss                 INFINITY
h_rss                 INFINITY
s_vmem                INFINITY
h_vmem                INFINITY
EOF
# (*) load_thresholds NONE: the default np_load_avg=1.75 puts the queue into "alarm"
#     state (a) on a busy 2-CPU machine and then nothing is scheduled.
# (*) pe_list smp (default "make smp mpi", which do not exist): `qsub -pe smp N`.
printf '%s\n' "$NAME" >"$NEWCONF/act_qmaster"
printf '%s\n' "$ALIASES" >"$NEWCONF/host_aliases"

############################################################ cell
QM_UP=0; EX_UP=0
alive "$ROOT/pids/sge_qmaster.pid" sge_qmaster && QM_UP=1
alive "$ROOT/pids/sge_execd.pid" sge_execd && EX_UP=1
if (( QM_UP )) && ! cmp -s "$NEWCONF/act_qmaster" "$ROOT/conf/act_qmaster" 2>/dev/null; then
    log "host name changed while daemons run -> full restart"
    SGE_TEST_ROOT=$ROOT "$HERE/sge-down.sh"
    QM_UP=0; EX_UP=0
fi

if (( ! QM_UP )); then
    if port_busy $QPORT; then
        die "port $QPORT is in use but not by a sge_qmaster started by this script (another qmaster? see 'ss -ltnp')"
    fi
    if (( ! EX_UP )) && port_busy $EPORT; then
        die "port $EPORT is in use but not by a sge_execd started by this script (another execd? see 'ss -ltnp')"
    fi
    if (( EX_UP == 0 )) && { [[ ${SGE_TEST_KEEP_STATE:-0} != 1 ]] || [[ ! -e $SPOOL/spooldb/sge ]]; }; then
        # Fresh cell: empty Berkeley DB spool, no jobs, job ids from 1, empty accounting
        # file (qacct -j N would otherwise also print an older job N).
        log "initialising a fresh cell in $SGE_ROOT/$SGE_CELL (spool $SPOOL)"
        rm -rf "$SPOOL/spooldb" "$SPOOL/qmaster" "$SPOOL/execd"
        install -d -o sgeadmin -g sgeadmin -m 755 "$SPOOL/spooldb" "$SPOOL/qmaster" \
            "$SPOOL/qmaster/job_scripts" "$SPOOL/execd"
        install -d -o sgeadmin -g sgeadmin -m 755 "$SGE_ROOT" "$SGE_ROOT/$SGE_CELL" "$COMMON"
        install -m 644 -o sgeadmin -g sgeadmin /usr/share/gridengine/default-bootstrap "$COMMON/bootstrap"
        rm -f "$COMMON/accounting" "$COMMON/reporting"
        runuser -u sgeadmin -- /usr/share/gridengine/scripts/init_cluster \
            "$SGE_ROOT" "$SGE_CELL" "$SPOOL/spooldb" sgeadmin >"$ROOT/init_cluster.log" 2>&1 \
            || { cat "$ROOT/init_cluster.log" >&2; die "init_cluster failed"; }
        rm -f "$ROOT/conf/applied"     # new DB: everything must be configured again
    fi
    # act_qmaster names the master host for clients and execd; host_aliases see above
    install -m 644 -o sgeadmin -g sgeadmin "$NEWCONF/act_qmaster" "$COMMON/act_qmaster"
    if [[ -n $ALIASES ]]; then
        install -m 644 -o sgeadmin -g sgeadmin "$NEWCONF/host_aliases" "$COMMON/host_aliases"
    else
        rm -f "$COMMON/host_aliases"
    fi
    cp "$NEWCONF/act_qmaster" "$ROOT/conf/act_qmaster"
    rm -f "$QM_PIDFILE" "$ROOT/pids/sge_qmaster.pid"
    # sge_qmaster daemonizes itself, switches to user sgeadmin and writes $QM_PIDFILE
    ( cd / && "${CLEAN_ENV[@]}" "$UTIL/sge_qmaster" ) \
        || die "sge_qmaster failed to start (see $SPOOL/qmaster/messages)"
    for _ in $(seq 50); do alive "$QM_PIDFILE" sge_qmaster && break; sleep 0.1; done
    alive "$QM_PIDFILE" sge_qmaster || die "sge_qmaster died (see $SPOOL/qmaster/messages)"
    cp "$QM_PIDFILE" "$ROOT/pids/sge_qmaster.pid"
    log "sge_qmaster started (pid $(cat "$QM_PIDFILE"))"
else
    log "sge_qmaster already running (pid $(cat "$ROOT/pids/sge_qmaster.pid"))"
fi

deadline=$(( $(date +%s) + TIMEOUT ))
until out=$(qconf -sconf global 2>&1); do
    alive "$ROOT/pids/sge_qmaster.pid" sge_qmaster || die "sge_qmaster died (see $SPOOL/qmaster/messages)"
    (( $(date +%s) > deadline )) && die "qmaster not answering after ${TIMEOUT}s: $out"
    sleep 0.1
done

############################################################ configure (live, via qconf)
# Compare the generated files with what was applied last time; apply only on change.
NEWSUM=$(cd "$NEWCONF" && cat conf/global sched exechost hostgroup pe_smp queue | md5sum)
if [[ $NEWSUM != "$(cat "$ROOT/conf/applied" 2>/dev/null)" ]]; then
    q() { out=$(qconf "$@" 2>&1) || die "qconf $* failed: $out"; }
    (cd "$NEWCONF/conf" && q -Mconf global)
    q -Msconf "$NEWCONF/sched"
    qconf -sh 2>/dev/null | grep -qxF "$NAME" || q -ah "$NAME"
    qconf -ss 2>/dev/null | grep -qxF "$NAME" || q -as "$NAME"
    if qconf -se "$NAME" >/dev/null 2>&1; then q -Me "$NEWCONF/exechost"; else q -Ae "$NEWCONF/exechost"; fi
    if qconf -shgrp @allhosts >/dev/null 2>&1; then q -Mhgrp "$NEWCONF/hostgroup"; else q -Ahgrp "$NEWCONF/hostgroup"; fi
    if qconf -sp smp >/dev/null 2>&1; then q -Mp "$NEWCONF/pe_smp"; else q -Ap "$NEWCONF/pe_smp"; fi
    if qconf -sq all.q >/dev/null 2>&1; then q -Mq "$NEWCONF/queue"; else q -Aq "$NEWCONF/queue"; fi
    cp "$NEWCONF"/{sched,exechost,hostgroup,pe_smp,queue} "$NEWCONF/conf/global" "$ROOT/conf/"
    echo "$NEWSUM" >"$ROOT/conf/applied"
    log "configured: admin/submit/exec host $NAME, @allhosts, pe smp, all.q ($SLOTS slots)"
fi

############################################################ sge_execd
if (( EX_UP )); then
    log "sge_execd already running (pid $(cat "$ROOT/pids/sge_execd.pid"))"
else
    port_busy $EPORT && die "port $EPORT is in use but not by a sge_execd started by this script (another execd? see 'ss -ltnp')"
    # execd spools in $SPOOL/execd/<its own idea of the host name>/ -- on a host with the
    # alias problem above that is the REVERSE name (e.g. .../execd/localhost/)
    rm -f "$SPOOL"/execd/*/execd.pid "$ROOT/pids/sge_execd.pid"
    ( cd / && "${CLEAN_ENV[@]}" "$UTIL/sge_execd" ) \
        || die "sge_execd failed to start (see $SPOOL/execd/*/messages)"
    # the start command returns after ~1 s, the pid file follows ~1.3 s later
    deadline=$(( $(date +%s) + TIMEOUT ))
    while (( $(date +%s) <= deadline )); do
        for pf in "$SPOOL"/execd/*/execd.pid; do alive "$pf" sge_execd && break 2; done
        sleep 0.1
    done
    alive "$pf" sge_execd || die "sge_execd died (see $SPOOL/execd/*/messages)"
    cp "$pf" "$ROOT/pids/sge_execd.pid"
    dirname "$pf" >"$ROOT/pids/execd_spool"
    log "sge_execd started (pid $(cat "$pf"), spool $(dirname "$pf"))"
fi

############################################################ wait for the queue
# all.q@host has an empty state column once execd has registered; "u" = execd unknown,
# "a" = load alarm, "E" = error, "d" = disabled.
qi_state() { qstat -f -q "all.q@$NAME" 2>/dev/null | awk -v q="all.q@$NAME" '$1 == q {print ($6 == "" ? "ok" : $6)}'; }
deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
    st=$(qi_state)
    [[ $st == ok ]] && break
    if [[ $st == *E* ]]; then
        log "queue all.q@$NAME is in error state: clearing it (qmod -c)"
        qmod -c "all.q@$NAME" >/dev/null 2>&1 || true
    fi
    alive "$ROOT/pids/sge_execd.pid" sge_execd || die "sge_execd died (see $(cat "$ROOT/pids/execd_spool" 2>/dev/null)/messages)"
    if (( $(date +%s) > deadline )); then
        qstat -f >&2 || true
        die "queue all.q@$NAME is '${st:-missing}' after ${TIMEOUT}s"
    fi
    sleep 0.1
done
log "cell ready in $(elapsed)s: queue all.q@$NAME ($SLOTS slots)${ALIASES:+, host_aliases: $ALIASES}"
qstat -f
