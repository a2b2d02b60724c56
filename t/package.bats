#!/usr/bin/env bats
# The packages (README "Installing"): `make deb` into a clean Debian 12 root
# made by mmdebstrap (install, --check-config, files, user, conffile, then
# remove and purge), `make image` run by podman (DataKit's batch posted from
# the host reaches a file: sink on a mounted volume, `podman stop` drains,
# nothing runs as root), and contrib/k8s/ (YAML, and only images, ports and
# paths the image has).
#
# The Debian root, with the package's dependencies installed, is made once
# and kept as a tarball in ${XDG_CACHE_HOME:-~/.cache}/rumpipe-pkg/ (named
# after the dependencies, so a new one is made when they change); the image
# tests import it as their BASE. The first run downloads from the Debian
# mirror (about a minute); later runs need no network.

load lib/common

PKG_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/rumpipe-pkg
IMG=localhost/rumpipe:test-package
# runc here needs the limits explicit (nofile no higher than this shell's;
# a higher nproc than 4096 is refused too). No timer for the health check:
# podman makes it a systemd timer, and there is no systemd here (the tests
# run the check themselves, `podman healthcheck run`).
nofile=$(ulimit -Hn)
[[ $nofile =~ ^[0-9]+$ ]] && ((nofile <= 65536)) || nofile=65536
PODMAN_RUN=(podman run --runtime runc --ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096
	--health-interval disable)

# Why this machine cannot run the tests of a kind, or nothing when it can.
why_no_deb() {
	# The package is built by dpkg-buildpackage with Debian's flags, not from
	# $RUMPIPE_BUILD: a sanitizer run would test the same thing again.
	[[ $RUMPIPE_BUILD != *-san ]] || { echo "the package does not use the sanitizer build (run in the plain suite)"; return; }
	[ "$(id -u)" = 0 ] || { echo "needs root (dpkg-buildpackage's chroot tests, podman)"; return; }
	local c
	for c in dpkg-buildpackage dh lintian git; do
		command -v $c >/dev/null || { echo "no $c (contrib/install-deps installs it)"; return; }
	done
}
why_no_root() {
	[ -z "$(why_no_deb)" ] || { why_no_deb; return; }
	command -v mmdebstrap >/dev/null || { echo "no mmdebstrap (contrib/install-deps installs it)"; return; }
	[ -s "$BATS_FILE_TMPDIR/base.tar" ] || echo "mmdebstrap could not make a Debian 12 root (is deb.debian.org reachable?): $(tail -3 "$BATS_FILE_TMPDIR/mmdebstrap.log" 2>/dev/null)"
}
why_no_podman() {
	[ -z "$(why_no_root)" ] || { why_no_root; return; }
	command -v podman >/dev/null || { echo "no podman (contrib/install-deps installs it)"; return; }
	command -v runc >/dev/null || { echo "no runc (podman's crun refuses this machine's hybrid cgroups; contrib/install-deps installs runc)"; return; }
	[ -f "$BATS_FILE_TMPDIR/image.ok" ] || echo "the image was not built"
}

setup_file() {
	local why deps key
	why=$(why_no_deb)
	if [ -n "$why" ]; then
		echo "$why" >"$BATS_FILE_TMPDIR/no-deb"
		return 0
	fi
	make -C "$TOP" -s deb >"$BATS_FILE_TMPDIR/deb.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/deb.log" >&3
		return 1
	}
	DEB=$(ls "$TOP"/build/deb/rumpipe_*_*.deb)
	echo "$DEB" >"$BATS_FILE_TMPDIR/deb"
	command -v mmdebstrap >/dev/null || return 0

	# The root: Debian 12 and the package's dependencies (curl and
	# ca-certificates for the image), from the cache when it has them.
	deps=$(dpkg-deb -f "$DEB" Depends | tr ',|' '\n\n' | sed 's/(.*)//; s/ //g' | grep . | sort -u | xargs)
	deps="$deps curl ca-certificates"
	key=$(echo "$deps" | sha256sum | cut -c1-12)
	local tar=$PKG_CACHE/bookworm-$key.tar
	if [ ! -s "$tar" ]; then
		mkdir -p "$PKG_CACHE"
		rm -rf "$PKG_CACHE"/bookworm-*
		# (mmdebstrap writes the format the name's suffix says: .tar)
		mmdebstrap --variant=apt --include="${deps// /,}" bookworm "$tar.part.tar" \
			>"$BATS_FILE_TMPDIR/mmdebstrap.log" 2>&1 && mv "$tar.part.tar" "$tar" || rm -rf "$tar.part.tar"
	fi
	[ -s "$tar" ] || return 0
	ln -s "$tar" "$BATS_FILE_TMPDIR/base.tar"

	[ -z "$(why_no_podman 2>/dev/null | grep -v 'was not built')" ] || return 0
	local base=localhost/rumpipe-test-base:$key
	podman image exists "$base" || podman import -q "$tar" "$base" >/dev/null || return 1
	make -C "$TOP" -s image DEB="$DEB" BASE="$base" IMAGE="$IMG" >"$BATS_FILE_TMPDIR/image.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/image.log" >&3
		return 1
	}
	touch "$BATS_FILE_TMPDIR/image.ok"
}

setup() {
	T=$BATS_TEST_TMPDIR
	DEB=$(cat "$BATS_FILE_TMPDIR/deb" 2>/dev/null || true)
	CTR=""
}

teardown() {
	[ -z "$CTR" ] || podman rm -f -t 0 "$CTR" >/dev/null 2>&1 || true
	[ -z "${R:-}" ] || rm -rf "$R"
}

# new_root: a clean Debian 12 root (the cached one) in $R.
new_root() {
	local why
	why=$(why_no_root)
	[ -z "$why" ] || skip "$why"
	R=$T/root
	mkdir "$R"
	tar -xf "$BATS_FILE_TMPDIR/base.tar" -C "$R"
}
in_root() { chroot "$R" "$@"; }
install_deb() {
	cp "$DEB" "$R/tmp/rumpipe.deb"
	# No package lists in the root: the dependencies must all be there.
	in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /tmp/rumpipe.deb >"$T/apt.log" 2>&1 ||
		{ cat "$T/apt.log"; return 1; }
	rm "$R/tmp/rumpipe.deb"
}
# Every path of the root but dpkg's and apt's own records and logs, the
# backups (shadow-, gshadow-) the account tools leave of the files they
# change, and /run (adduser's lock; a tmpfs on a running system).
root_paths() {
	(cd "$R" && find . -xdev \( -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache \
		-o -path ./var/lib/apt -o -path ./tmp -o -path ./run -o -path './etc/*-' \) -prune -o -print |
		LC_ALL=C sort)
}
accounts() { (cd "$R/etc" && cat passwd group shadow gshadow | sha256sum); }

@test "make deb: dependencies from dh_shlibdeps, the conffile, no lintian error" {
	[ ! -f "$BATS_FILE_TMPDIR/no-deb" ] || skip "$(cat "$BATS_FILE_TMPDIR/no-deb")"
	[ -f "$DEB" ]
	depends=$(dpkg-deb -f "$DEB" Depends)
	# dh_shlibdeps: the libraries the programs link, with versions.
	[[ $depends == *"libmicrohttpd12 (>= "* ]]
	[[ $depends == *"librdkafka1 (>= "* ]]
	[[ $depends == *"libc6 (>= "* ]]
	[[ $depends == *adduser* ]]
	[ "$(dpkg-deb -f "$DEB" Package Version Architecture | xargs)" = \
		"Package: rumpipe Version: 0.1.0 Architecture: $(dpkg --print-architecture)" ]
	dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles >"$T/conffiles"
	[ "$(cat "$T/conffiles")" = /etc/rumpipe/rum-collector.conf ]
	# make deb ran lintian --fail-on error (setup_file fails if it finds one).
	! grep '^E: ' "$BATS_FILE_TMPDIR/deb.log"
}

@test "the .deb in a clean Debian 12 root: files where policy puts them, the rumpipe user, --check-config passes" {
	new_root
	install_deb
	# Programs, man pages, data, configuration, the unit.
	for p in rum-collector rum-listen rum-replay-filter rum-enrich rum-cdn rum-symbolicate rum-ship rum-consume; do
		[ -x "$R/usr/bin/$p" ]
		[ -f "$R/usr/share/man/man1/$p.1.gz" ]
	done
	for f in rum-collector.conf edge-node.conf processing-node.conf cdn-map.json; do
		[ -f "$R/usr/share/rumpipe/$f" ]
	done
	cmp "$R/etc/rumpipe/rum-collector.conf" "$TOP/share/rum-collector.conf"
	[ -f "$R/usr/share/doc/rumpipe/copyright" ]
	unit=$R/lib/systemd/system/rum-collector.service
	grep -qx 'ExecStart=/usr/bin/rum-collector -c /etc/rumpipe/rum-collector.conf' "$unit"
	# The unit of contrib/systemd, its hardening kept: only the path differs.
	diff <(grep -v '^#' "$unit") <(grep -v '^#' "$TOP/contrib/systemd/rum-collector.service" | sed 's,/usr/local/bin/,/usr/bin/,')
	[ -L "$R/etc/systemd/system/multi-user.target.wants/rum-collector.service" ]
	[ "$(in_root dpkg-query -W -f='${Conffiles}' rumpipe | awk '{print $1}' | xargs)" = /etc/rumpipe/rum-collector.conf ]
	# A system user and group, no login, home the data directory it owns.
	IFS=: read -r name _ uid gid _ home shell < <(in_root getent passwd rumpipe)
	[ "$name" = rumpipe ] && [ "$home" = /var/lib/rumpipe ] && [ "$shell" = /usr/sbin/nologin ]
	((uid >= 100 && uid < 1000))
	[ "$(in_root getent group rumpipe | cut -d: -f3)" = "$gid" ]
	[ "$(stat -c '%U:%G %a' "$R/var/lib/rumpipe")" = "rumpipe:rumpipe 750" ] ||
		[ "$(stat -c '%u:%g %a' "$R/var/lib/rumpipe")" = "$uid:$gid 750" ]
	# The packaged configuration checks, as root and as the service's user.
	in_root rum-collector -c /etc/rumpipe/rum-collector.conf --check-config
	chroot --userspec=rumpipe:rumpipe "$R" rum-collector -c /etc/rumpipe/rum-collector.conf --check-config
	for f in edge-node.conf processing-node.conf; do
		in_root rum-collector -c "/usr/share/rumpipe/$f" --check-config
	done
}

@test "the .deb: remove keeps configuration, data and user; purge then leaves nothing behind" {
	new_root
	root_paths >"$T/before"
	accounts_before=$(accounts)
	install_deb
	echo 'a record' >"$R/var/lib/rumpipe/records.ndjson"
	in_root dpkg --remove rumpipe
	[ ! -e "$R/usr/bin/rum-listen" ]
	[ ! -e "$R/lib/systemd/system/rum-collector.service" ]
	[ -f "$R/etc/rumpipe/rum-collector.conf" ]
	[ -f "$R/var/lib/rumpipe/records.ndjson" ]
	in_root getent passwd rumpipe
	in_root dpkg --purge rumpipe
	root_paths >"$T/after"
	diff "$T/before" "$T/after"
	[ "$(accounts)" = "$accounts_before" ]
	! in_root dpkg-query -W rumpipe 2>/dev/null
	[ -z "$(ls "$R/var/lib/dpkg/info" | grep '^rumpipe\.' || true)" ]
}

# run_image NAME ARG...: the image, detached, as a container named NAME (in
# CTR, which teardown removes).
run_image() {
	CTR=$1
	shift
	"${PODMAN_RUN[@]}" -d --name "$CTR" "$@" >/dev/null
}

@test "the image: DataKit's batch from the host reaches a file: sink on a volume; podman stop drains; nothing runs as root" {
	why=$(why_no_podman)
	[ -z "$why" ] || skip "$why"
	body=${FIXTURES:-/nonexistent}/datakit/body
	[ -f "$body" ] || body=$TOP/t/data/listen-batch.lp
	# (9 points either way; DataKit's has a stack over several lines)
	uid=$("${PODMAN_RUN[@]}" --rm --network none --entrypoint id "$IMG" -u)
	gid=$("${PODMAN_RUN[@]}" --rm --network none --entrypoint id "$IMG" -g)
	[ "$uid" -gt 0 ]
	mkdir "$T/data" "$T/out"
	chown "$uid:$gid" "$T/data" "$T/out"
	printf '[ship]\nsink = "file:/out/records.ndjson"\n' >"$T/rum.conf"
	port=$(free_port)
	# The host's network (the only kind this machine's podman has), so the
	# port is a free one rather than 9529; the configuration from a mounted
	# file, the address from DataKit's variable.
	run_image "rumpipe-test-$$" --network host -v "$T/data:/var/lib/rumpipe" -v "$T/out:/out" \
		-v "$T/rum.conf:/etc/rumpipe/test.conf:ro" -e RUM_CONFIG=/etc/rumpipe/test.conf \
		-e ENV_HTTP_LISTEN="0.0.0.0:$port" "$IMG"
	wait_port "$port" 60 || { podman logs "$CTR"; false; }
	podman healthcheck run "$CTR"
	for i in $(seq 20); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$body" \
			"http://127.0.0.1:$port/v1/write/rum?precision=ms")
		[ "$code" = 200 ]
	done
	# Every process of the container is the rumpipe user's.
	pid=$(podman inspect -f '{{.State.Pid}}' "$CTR")
	[ "$(ps -o uid= -p "$pid" | xargs)" = "$uid" ]
	[ "$(ps -o uid= --ppid "$pid" | sort -u | xargs)" = "$uid" ]
	[ "$(ps -o uid= --ppid "$pid" | wc -l)" -ge 6 ]
	# Stopped at once: every accepted point is written before it exits.
	podman stop -t 90 "$CTR" >/dev/null
	podman logs "$CTR" >"$T/log" 2>&1
	[ "$(podman inspect -f '{{.State.ExitCode}}' "$CTR")" = 0 ] || { cat "$T/log"; false; }
	[ "$(lines "$T/out/records.ndjson")" = 180 ] || { cat "$T/log"; false; }
	[ "$(jq -r .measurement "$T/out/records.ndjson" | sort | uniq -c | awk '{print $1}' | sort -u | xargs)" != "" ]
	[ "$(stat -c %u "$T/out/records.ndjson")" = "$uid" ]
	# The data volume is the collector's data directory.
	[ -d "$T/data/run" ]
}

@test "the image's defaults: rum-listen on 0.0.0.0:9529, healthy, a volume at /var/lib/rumpipe, user rumpipe" {
	why=$(why_no_podman)
	[ -z "$why" ] || skip "$why"
	podman image inspect -f '{{json .Config}}' "$IMG" >"$T/config"
	# rumpipe, by the number contrib/k8s/ gives runAsUser.
	[ "$(jq -r .User "$T/config")" = 9529:9529 ]
	[ "$("${PODMAN_RUN[@]}" --rm --network none --entrypoint id "$IMG" -un)" = rumpipe ]
	[ "$(jq -r '.ExposedPorts | keys | join(" ")' "$T/config")" = 9529/tcp ]
	[ "$(jq -r '.Volumes | keys | join(" ")' "$T/config")" = /var/lib/rumpipe ]
	[ "$(jq -r '.Entrypoint | join(" ")' "$T/config")" = /usr/bin/rum-collector ]
	jq -r '.Env[]' "$T/config" | grep -qx ENV_HTTP_LISTEN=0.0.0.0:9529
	podman image inspect "$IMG" | jq -r '.[0].Healthcheck.Test[1]' | grep -q '/v1/ping'
	# A network of its own (nothing but loopback): 9529 as the image says,
	# and the health check that asks /v1/ping there passes.
	run_image "rumpipe-test-$$" --network none "$IMG"
	wait_for 60 podman healthcheck run "$CTR" || { podman logs "$CTR"; false; }
	podman exec "$CTR" sh -c 'grep -q ":2539 00000000:0000 0A" /proc/net/tcp'
	podman stop -t 90 "$CTR" >/dev/null
	[ "$(podman inspect -f '{{.State.ExitCode}}' "$CTR")" = 0 ]
}

# The manifests as JSON, one document a line.
k8s_docs() {
	python3 -c 'import json, sys, yaml
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        if doc is not None:
            print(json.dumps(doc))' "$TOP"/contrib/k8s/*.yaml
}

@test "contrib/k8s: YAML; Deployment, Service, ConfigMap, PVC; the image and ports of make image" {
	python3 -c 'import yaml' 2>/dev/null || skip "no python3 yaml module"
	k8s_docs >"$T/docs"
	[ "$(jq -r .kind "$T/docs" | sort -u | xargs)" = "ConfigMap Deployment PersistentVolumeClaim Service" ]
	dep=$(jq -c 'select(.kind == "Deployment" and .metadata.name == "rumpipe")' "$T/docs")
	[ "$(jq .spec.replicas <<<"$dep")" = 2 ]
	[ "$(jq -r '.spec.template.spec.containers[0].readinessProbe.httpGet | "\(.path) \(.port)"' <<<"$dep")" = "/v1/ping 9529" ]
	# The grace period covers the collector's drain (drain_timeout).
	drain=$(jq -r 'select(.kind == "ConfigMap" and .metadata.name == "rumpipe") | .data["rum-collector.conf"]' "$T/docs" |
		sed -n 's/^drain_timeout *= *//p')
	[ "$(jq .spec.template.spec.terminationGracePeriodSeconds <<<"$dep")" -gt "${drain:-60}" ]
	[ "$(jq -r 'select(.kind == "PersistentVolumeClaim") | .spec.accessModes[]' "$T/docs" | sort -u)" = ReadWriteMany ]
	# The image make image builds, and its one port.
	image=$(sed -n 's/^IMAGE ?= //p' "$TOP/GNUmakefile")
	[ "$(jq -r 'select(.kind == "Deployment") | .spec.template.spec.containers[].image' "$T/docs" | sort -u)" = "$image" ]
	[ "$(jq -r 'select(.kind == "Deployment") | .spec.template.spec.containers[].ports[]?.containerPort' "$T/docs" | sort -u)" = 9529 ]
	[ "$(jq -r 'select(.kind == "Service") | .spec.ports[].targetPort' "$T/docs" | sort -u)" = 9529 ]
	# Every volume mount names a volume of its pod, every ConfigMap or claim
	# it names exists.
	jq -e -s '[.[] | select(.kind == "Deployment") | .spec.template.spec as $s |
		($s.containers[].volumeMounts[]?.name) as $m | $s.volumes | map(.name) | index($m) != null] | all' "$T/docs"
	jq -e -s '(map(select(.kind == "ConfigMap") | .metadata.name)) as $cm |
		(map(select(.kind == "PersistentVolumeClaim") | .metadata.name)) as $pvc |
		[.[] | select(.kind == "Deployment") | .spec.template.spec.volumes[] |
		 if .configMap then .configMap.name as $n | ($cm | index($n)) != null
		 elif .persistentVolumeClaim then .persistentVolumeClaim.claimName as $n | ($pvc | index($n)) != null
		 else true end] | all' "$T/docs"
}

@test "contrib/k8s: its paths exist in the image, its configurations pass --check-config there" {
	python3 -c 'import yaml' 2>/dev/null || skip "no python3 yaml module"
	why=$(why_no_podman)
	[ -z "$why" ] || skip "$why"
	k8s_docs >"$T/docs"
	# Mount points and the configuration paths the containers are given.
	mapfile -t paths < <(jq -r 'select(.kind == "Deployment") | .spec.template.spec.containers[] |
		(.volumeMounts[]?.mountPath), (.env[]? | select(.name == "RUM_CONFIG") | .value | sub("/[^/]*$"; ""))' "$T/docs" | sort -u)
	[ "${#paths[@]}" -ge 3 ]
	missing=$("${PODMAN_RUN[@]}" --rm --network none --entrypoint /bin/sh "$IMG" \
		-c 'for p; do [ -d "$p" ] || echo "$p"; done' sh "${paths[@]}")
	[ -z "$missing" ] || { echo "not in the image: $missing"; false; }
	# Each ConfigMap's rum-collector.conf, as the pods get it.
	n=0
	while read -r cm; do
		jq -r --arg cm "$cm" 'select(.kind == "ConfigMap" and .metadata.name == $cm) | .data["rum-collector.conf"]' "$T/docs" >"$T/$cm.conf"
		"${PODMAN_RUN[@]}" --rm --network none -v "$T/$cm.conf:/etc/rumpipe/k8s.conf:ro" "$IMG" \
			-c /etc/rumpipe/k8s.conf --check-config
		n=$((n + 1))
	done < <(jq -r 'select(.kind == "ConfigMap") | .metadata.name' "$T/docs")
	[ "$n" -ge 3 ]
}
