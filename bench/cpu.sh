# Shared by bench/run.sh and bench/citus.sh: the CPU time of a cluster.
# Source after scripts/lib.sh.

# cluster_cpu_us [DATA_DIR]: CPU time used so far by the cluster's processes (backends, WAL writer,
# checkpointer, ...), including those that have exited, in microseconds.
# Other work on the machine inflates it far less than it does wall time
# (only through contention for caches and memory).
#
# The kernel adds a child's CPU time to its parent's cutime and cstime when
# the parent reaps it, so the postmaster's own and its children's times
# (/proc/PID/stat fields 14-17) plus each live child's utime and stime
# (14-15, zombies included) cover every process the cluster ever ran, but
# only if no child is reaped while they are being read.  A child reaped
# after the postmaster's counters were read and before its own is counted
# nowhere: that is how an earlier version of this function, which read the
# postmaster once after a fixed 0.2 s pause, lost a contender's whole
# backend when the loaded machine was slow to reap it (0.45 s of CPU for
# 34 s of wall time).  A child reaped after its own counters were read
# would be counted twice.  So a reading is taken between two reads of the
# postmaster's cutime and cstime and kept only when they agree and every
# child listed could be read; otherwise it is taken again.  Before it, the
# client backends are given time to exit (the contender's client has gone),
# so the CPU they spend exiting is in the reading, not in the next one.
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# Wait (up to 10 s) until the cluster has no client backend left, alive or
# unreaped: only its background processes (and walsenders, which stream
# for as long as their consumer runs) remain.
settle_backends() {
	local pm=$1 i child busy
	for ((i = 0; i < 200; i++)); do
		busy=
		for child in $(ps -o pid= --ppid "$pm"); do
			if [ "$(awk '{ print $3 }' "/proc/$child/stat" 2>/dev/null)" = Z ] ||
				{ tr '\0' ' ' <"/proc/$child/cmdline"; } 2>/dev/null | grep -v walsender | grep -q '\[local\]'; then
				busy=1
				break
			fi
		done
		[ -z "$busy" ] && return 0
		sleep 0.05
	done
}

# One reading, or nothing (exit status 1) when a child was reaped during it.
cpu_reading() {
	local pm=$1 before after child t=0 stat
	before=$(cut -d ' ' -f 16,17 "/proc/$pm/stat")
	for child in $(ps -o pid= --ppid "$pm"); do
		stat=$(cut -d ' ' -f 14,15 "/proc/$child/stat" 2>/dev/null) || return 1
		t=$((t + ${stat% *} + ${stat#* }))
	done
	after=$(cut -d ' ' -f 14-17 "/proc/$pm/stat")
	[ "$before" = "$(cut -d ' ' -f 3,4 <<<"$after")" ] || return 1
	read -r -a after <<<"$after"
	echo $(((t + after[0] + after[1] + after[2] + after[3]) * TICK_US))
}

cluster_cpu_us() {
	local pm i
	pm=$(head -n 1 "${1:-$DATA}/postmaster.pid")
	settle_backends "$pm"
	for ((i = 0; i < 100; i++)); do
		cpu_reading "$pm" && return 0
	done
	echo "bench/run.sh: no consistent CPU reading of the cluster" >&2
	return 1
}
