# Container area (issue 7): make sure a Docker engine answers. Idempotent:
# nothing happens when 'docker info' already works. Without systemd (CI
# containers/VMs started bare) dockerd is started in the background with no
# bridge network and no iptables, as docs/container.md describes; the tests run
# their containers with --network host.
_armvm_docker_up() { docker info >/dev/null 2>&1; }
if ! _armvm_docker_up; then
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl start docker || true
    fi
    if ! _armvm_docker_up && ! { command -v pgrep >/dev/null && pgrep -x dockerd >/dev/null 2>&1; }; then
        echo "starting dockerd (log: /var/log/dockerd.log)"
        $SUDO sh -c 'nohup dockerd --bridge=none --iptables=false >/var/log/dockerd.log 2>&1 &'
    fi
    # a fresh, busy machine can take long to start the engine: wait up to 5
    # minutes (it is a wait for readiness, not a time limit on anything tested)
    for _i in $(seq 1 300); do
        _armvm_docker_up && break
        sleep 1
    done
    if ! _armvm_docker_up; then
        echo "dockerd did not come up; last lines of /var/log/dockerd.log:" >&2
        $SUDO tail -n 20 /var/log/dockerd.log >&2 || true
        return 1 2>/dev/null || exit 1
    fi
fi
docker version --format 'docker engine {{.Server.Version}} is up' || true
